"""loc_node fed by `loc-bag play` of a SemanticKITTI sequence converted with `loc-bag
semantickitti2bag` (real rclpy, own DDS domain): the node takes the calibration written into the
bag folder, matches the Velodyne scans with image_2 and publishes an output for every scan."""
import time

import numpy as np
import pytest
from ros_test_utils import HeightBandPredictor, ros_module_context

from loc_core.data.calibration import load_calibration

pytestmark = [pytest.mark.ros, pytest.mark.sample_data]
SCANS = 4


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_semantickitti_bag')


@pytest.fixture(scope='module')
def kitti_bag(semantickitti_root, tmp_path_factory):
    from rosbags_tools.cli import main

    out = tmp_path_factory.mktemp('bag') / 'semantickitti-07'
    assert main(['semantickitti2bag', str(semantickitti_root), '--sequence', '07', '--out', str(out),
                 '--no-progress']) == 0
    return out


def test_bag_holds_the_rig_and_frames(kitti_bag, semantickitti_root):
    from loc_core.data.semantickitti_source import SemanticKittiSource
    from rosbags_tools.reader import BagFrameSource

    source = SemanticKittiSource(semantickitti_root, '07', load_images=False)
    calibration = load_calibration(kitti_bag / 'calibration.yaml')
    assert [c.name for c in calibration.cameras] == ['image_2']
    assert (calibration.cameras[0].width, calibration.cameras[0].height) == (1226, 370)
    np.testing.assert_allclose(calibration.lidar_to_base, source.lidar_to_ego, atol=1e-9)
    frames = list(BagFrameSource(kitti_bag, decode_images=False))
    assert len(frames) == SCANS
    for back, want in zip(frames, source):
        assert back.points.tobytes() == want.points.tobytes()
        np.testing.assert_allclose(back.ego_to_world, want.ego_to_world, atol=1e-6)
        np.testing.assert_allclose(back.camera('image_2').cam_to_ego, want.camera('image_2').cam_to_ego, atol=1e-6)


def test_played_bag_goes_through_the_node(kitti_bag):
    from rclpy.parameter import Parameter
    from ros_harness import Harness

    from loc_ros.node import LocNode
    from rosbags_tools.player import BagPlayer

    calibration_file = kitti_bag / 'calibration.yaml'
    calibration = load_calibration(calibration_file)
    predictor = HeightBandPredictor()
    node = LocNode(predictor=predictor, parameter_overrides=[
        Parameter('calibration_file', value=str(calibration_file)), Parameter('prompts', value=['ground', 'car']),
        Parameter('input_qos', value='reliable')])  # a played bag is a recording: take every message
    harness = Harness(node, calibration, outputs=('grid', 'markers', 'legend'))
    try:
        report = BagPlayer(kitti_bag, rate=1.0, wait_for_subscribers_s=10.0).play()
        deadline = time.monotonic() + 30

        def accounted():
            counts = node.stats.snapshot()
            return counts.get('published', 0) + sum(v for k, v in counts.items() if k.startswith('drop.'))

        while accounted() < SCANS and time.monotonic() < deadline:
            time.sleep(0.1)
        counts = node.stats.snapshot()
        assert counts['lidar_in'] == SCANS and counts['camera_in'] == SCANS, (counts, report)
        assert counts.get('published', 0) >= SCANS - 1, counts
        assert all(cams == {'image_2': (370, 1226, 3)} for cams in predictor.camera_sets)
        markers = harness.wait_for('markers')
        assert {m.ns for m in markers.markers if m.action == 0} >= {'ground'}
        assert len(harness.wait_for('grid').data) > 0
    finally:
        harness.close()
