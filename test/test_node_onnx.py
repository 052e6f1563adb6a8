"""loc_node on the onnxruntime backend (real rclpy/DDS, the shipped demo checkpoint exported at
startup): a synthetic-world frame goes in, the grid comes out, and a prompt change through
SetParameters reaches the next output without a new export."""
import json

import numpy as np
import pytest
from rcl_interfaces.msg import Parameter as ParameterMsg
from rcl_interfaces.msg import ParameterType, ParameterValue
from rcl_interfaces.srv import SetParameters
from ros_test_utils import calibration_for_frame, frame_to_messages, ros_module_context

from loc_core.models.checkpoint import DEMO_CHECKPOINT

pytestmark = [pytest.mark.ros, pytest.mark.skipif(not DEMO_CHECKPOINT.exists(), reason='no shipped demo checkpoint')]


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_onnx')


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


def test_onnxruntime_backend_serves_frames_and_follows_prompt_changes(tmp_path):
    from rclpy.parameter import Parameter
    from ros_harness import Harness

    from loc_core.data.calibration import save_calibration
    from loc_core.sim import SyntheticSource
    from loc_ros.node import LocNode

    frames = list(SyntheticSource(seed=1, num_frames=2))
    calibration = calibration_for_frame(frames[0])
    path = save_calibration(tmp_path / 'calibration.yaml', calibration)
    export = tmp_path / 'onnx'
    node = LocNode(parameter_overrides=[
        Parameter('calibration_file', value=str(path)), Parameter('checkpoint', value='demo'),
        Parameter('backend', value='onnxruntime'), Parameter('onnx_path', value=str(export)),
        Parameter('prompts', value=['road', 'car', 'building'])])
    harness = Harness(node, calibration, outputs=('grid', 'markers', 'legend'))
    try:
        assert node.predictor.config.inference.backend == 'onnxruntime'
        assert node.predictor.onnx is not None and node.predictor.onnx.folder == export
        exported = (export / 'dense.onnx').stat().st_mtime_ns  # exported at startup, before any frame
        harness.publish(frame_to_messages(frames[0], calibration, frames[0].timestamp_ns))
        grid = harness.wait_for('grid', timeout=60)
        labels = np.frombuffer(grid.data, dtype=np.uint8)
        assert set(np.unique(labels)) <= {0, 1, 2, 254, 255}
        assert {0, 1} <= set(np.unique(labels))  # road and car in the synthetic street

        result = _set_prompts(harness, ['car', 'stroller'])
        assert result.successful, result.reason
        harness.wait_for('legend', lambda m: [c['prompt'] for c in json.loads(m.data)['classes']]
                         == ['car', 'stroller'], timeout=60)
        after = harness.count('markers')
        harness.publish(frame_to_messages(frames[1], calibration, frames[1].timestamp_ns))
        markers = harness.wait_for('markers', after=after, timeout=60)
        assert {m.ns for m in markers.markers[1:]} == {'car', 'stroller', 'unknown'}
        assert node.predictor.prompts == ('car', 'stroller')
        assert (export / 'dense.onnx').stat().st_mtime_ns == exported  # no new export for new prompts
    finally:
        harness.close()
