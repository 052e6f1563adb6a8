"""Run-time prompt changes through the SetParameters service (what `ros2 param set` calls): the
next frame uses the new classes and the legend changes; invalid sets are refused with a reason and
change nothing; read-only and out-of-range values are refused."""
import json
import time

import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import DescribeParameters, GetParameters, SetParameters
from ros_test_utils import (calibration_for_frame, frame_to_messages, ros_module_context, start_node,
                            synthetic_frame)

from loc_ros.parameters import InvalidParameter, prompt_class_ids, validate_prompts

pytestmark = pytest.mark.ros


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_params')


@pytest.fixture()
def running(tmp_path):
    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    harness, predictor = start_node(tmp_path, calibration, prompts=['road', 'car', 'pole'])
    yield harness, predictor, frame, calibration
    harness.close()


def _call(harness, service_type, name, request, timeout=10.0):
    client = harness.io.create_client(service_type, f'/{harness.node.get_name()}/{name}')
    assert client.wait_for_service(timeout_sec=timeout)
    future = client.call_async(request)  # the harness executor spins the client's node
    end = time.monotonic() + timeout
    while not future.done() and time.monotonic() < end:
        time.sleep(0.02)
    assert future.done(), f'{name} did not answer'
    return future.result()


def _set(harness, name, value_msg):
    request = SetParameters.Request(parameters=[ParameterMsg(name=name, value=value_msg)])
    return _call(harness, SetParameters, 'set_parameters', request).results[0]


def _strings(values):
    return ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=list(values))


def test_prompt_change_reaches_the_next_frame_and_the_legend(running):
    harness, predictor, frame, calibration = running
    harness.publish(frame_to_messages(frame, calibration, 10**9))
    first = harness.wait_for('markers')
    assert {m.ns for m in first.markers if m.action == 0} >= {'road', 'car'}

    result = _set(harness, 'prompts', _strings(['car', 'stroller']))
    assert result.successful, result.reason
    legend = harness.wait_for('legend', lambda m: 'stroller' in m.data)
    doc = json.loads(legend.data)
    assert [c['prompt'] for c in doc['classes']] == ['car', 'stroller']
    assert [c['occ3d_id'] for c in doc['classes']] == [4, -1]
    after = harness.count('markers')
    harness.publish(frame_to_messages(frame, calibration, 2 * 10**9))
    markers = harness.wait_for('markers', after=after)
    assert markers.markers[0].action == 3  # class set changed -> DELETEALL first
    assert {m.ns for m in markers.markers[1:]} == {'car', 'stroller', 'unknown'}
    assert predictor.prompts == ('car', 'stroller')
    get = _call(harness, GetParameters, 'get_parameters', GetParameters.Request(names=['prompts']))
    assert list(get.values[0].string_array_value) == ['car', 'stroller']


@pytest.mark.parametrize('prompts, reason', [
    ([], 'empty'), (['car', 'Car '], 'repeats'), (['car', ''], 'empty'), (['x' * 101], 'characters'),
    (['car', 'bad\x07bell'], 'control')])
def test_invalid_prompts_are_refused_with_a_reason(running, prompts, reason):
    harness, predictor, _, _ = running
    calls_before = predictor.set_prompts_calls
    result = _set(harness, 'prompts', _strings(prompts))
    assert not result.successful
    assert reason in result.reason
    assert harness.node.prompts == ('road', 'car', 'pole')
    assert predictor.set_prompts_calls == calls_before


def test_read_only_and_out_of_range_values_are_refused(running):
    harness, _, _, _ = running
    result = _set(harness, 'calibration_file', ParameterValue(type=ParameterType.PARAMETER_STRING,
                                                              string_value='/tmp/other.yaml'))
    assert not result.successful and 'read-only' in result.reason
    result = _set(harness, 'unknown_threshold', ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                               double_value=7.5))
    assert not result.successful
    result = _set(harness, 'unknown_threshold', ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                               double_value=0.9))
    assert result.successful


def test_unknown_threshold_turns_low_similarity_voxels_unknown(running):
    harness, _, frame, calibration = running
    assert _set(harness, 'unknown_threshold', ParameterValue(type=ParameterType.PARAMETER_DOUBLE,
                                                             double_value=0.9)).successful
    after = harness.count('markers')
    harness.publish(frame_to_messages(frame, calibration, 3 * 10**9))
    markers = harness.wait_for('markers', after=after)  # the stand-in scores every voxel 0.5
    assert {m.ns for m in markers.markers if m.action == 0} == {'unknown'}


def test_descriptors_carry_ranges_read_only_flags_and_descriptions(running):
    harness, _, _, _ = running
    names = ['prompts', 'unknown_threshold', 'score_threshold', 'calibration_file', 'checkpoint', 'sync_queue_size']
    described = _call(harness, DescribeParameters, 'describe_parameters', DescribeParameters.Request(names=names))
    by_name = {d.name: d for d in described.descriptors}
    assert not by_name['prompts'].read_only and by_name['prompts'].type == ParameterType.PARAMETER_STRING_ARRAY
    assert by_name['calibration_file'].read_only and by_name['checkpoint'].read_only
    low, high = by_name['unknown_threshold'].floating_point_range[0].from_value, \
        by_name['unknown_threshold'].floating_point_range[0].to_value
    assert (low, high) == (-1.0, 7.0) and not by_name['unknown_threshold'].read_only
    assert by_name['sync_queue_size'].integer_range[0].to_value == 100
    assert all(d.description for d in described.descriptors)


def test_prompt_validation_and_class_ids_without_ros():
    assert validate_prompts(['  car ', 'stroller']) == ('car', 'stroller')
    with pytest.raises(InvalidParameter):
        validate_prompts('car')
    with pytest.raises(InvalidParameter):
        validate_prompts(['a'] * 0 + [str(i) for i in range(129)])
    assert prompt_class_ids(['Car', 'road', 'driveable_surface', 'stroller']) == (4, 11, 11, -1)
