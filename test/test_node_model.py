"""loc_node with loc_core's real LocPredictor (the shipped checkpoint when present, else an untrained
network), on the torch and the onnxruntime backend: a synthetic-world frame goes in, the grid uses
the prompt indices, and a prompt change through SetParameters reaches the next output and the
legend (with onnxruntime: without a new export)."""
import importlib.util
import json

import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_test_utils import calibration_for_frame, frame_to_messages, ros_module_context

pytestmark = [pytest.mark.ros, pytest.mark.skipif(
    importlib.util.find_spec('loc_core.inference.predictor') is None, reason='LocPredictor not merged yet')]


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_model')


def _set_prompts(harness, prompts):
    import time

    client = harness.io.create_client(SetParameters, '/loc_node/set_parameters')
    assert client.wait_for_service(timeout_sec=10)
    value = ParameterValue(type=ParameterType.PARAMETER_STRING_ARRAY, string_array_value=prompts)
    future = client.call_async(SetParameters.Request(parameters=[ParameterMsg(name='prompts', value=value)]))
    deadline = time.monotonic() + 30
    while not future.done() and time.monotonic() < deadline:
        time.sleep(0.05)
    return future.result().results[0]


@pytest.mark.parametrize('backend', ['torch', 'onnxruntime'])
def test_real_predictor_serves_frames_and_follows_prompt_changes(tmp_path, backend):
    from rclpy.parameter import Parameter
    from ros_harness import Harness

    from loc_core.data.calibration import save_calibration
    from loc_core.models.checkpoint import DEMO_CHECKPOINT
    from loc_core.sim import SyntheticSource
    from loc_ros.node import LocNode

    frames = list(SyntheticSource(seed=1, num_frames=2))
    calibration = calibration_for_frame(frames[0])
    path = save_calibration(tmp_path / 'calibration.yaml', calibration)
    checkpoint = '' if DEMO_CHECKPOINT.exists() else 'none'
    node = LocNode(parameter_overrides=[
        Parameter('calibration_file', value=str(path)), Parameter('checkpoint', value=checkpoint),
        Parameter('prompts', value=['road', 'car', 'building']), Parameter('score_threshold', value=0.05),
        Parameter('backend', value=backend), Parameter('onnx_path', value=str(tmp_path / 'onnx'))])
    harness = Harness(node, calibration, outputs=('grid', 'markers', 'legend'))
    export = tmp_path / 'onnx' / 'dense.onnx'
    try:
        assert node.predictor.config.inference.backend == backend
        assert (node.predictor.onnx is not None) == (backend == 'onnxruntime') == export.exists()
        exported = export.stat().st_mtime_ns if export.exists() else None  # exported at startup
        assert node._decode_size == node.predictor.model.image_size  # JPEGs decoded for the model input
        inference = node.predictor.config.inference
        assert inference.occupancy_threshold == 0.05  # the override reached the model
        assert inference.return_features is False  # the node publishes no voxel features
        assert node.get_parameter('unknown_threshold').value == pytest.approx(inference.unknown_threshold)
        harness.publish(frame_to_messages(frames[0], calibration, frames[0].timestamp_ns))
        grid = harness.wait_for('grid', timeout=60)  # each output topic is received on its own
        labels = np.frombuffer(grid.data, dtype=np.uint8)
        assert set(np.unique(labels)) <= {0, 1, 2, 254, 255}
        assert (labels != 255).any()

        result = _set_prompts(harness, ['car', 'stroller'])
        assert result.successful, result.reason
        harness.wait_for('legend', lambda m: [c['prompt'] for c in json.loads(m.data)['classes']]
                         == ['car', 'stroller'], timeout=60)
        after = harness.count('markers')
        harness.publish(frame_to_messages(frames[1], calibration, frames[1].timestamp_ns))
        markers = harness.wait_for('markers', after=after, timeout=60)
        assert {m.ns for m in markers.markers if m.action == 0} <= {'car', 'stroller', 'unknown'}
        assert {m.ns for m in markers.markers[1:]} == {'car', 'stroller', 'unknown'}
        assert node.predictor.prompts == ('car', 'stroller')
        # the first frame's statistics were recorded before the second frame was predicted: its network
        # inputs were prepared on the decoding thread, ahead of the predictor
        assert node.stats.stage_medians().get('prepare', 0) > 0
        assert (export.stat().st_mtime_ns if export.exists() else None) == exported  # no new export
    finally:
        harness.close()
