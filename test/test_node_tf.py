"""loc_node without a calibration file, as on a robot: the sensor mounts come from /tf_static,
the intrinsics from CameraInfo, the sensor frames from the messages. End to end with real rclpy:
`loc-bag play` of a bag -> /tf_static (latched) -> the node -> outputs; before the transforms
arrive, frames are dropped and counted with an error that names the missing frames."""
import os
import time

import numpy as np
import pytest
from bag_test_frames import CAMERA_MOUNT, K, LIDAR_MOUNT, T0_NS, toy_calibration, toy_frames
from ros_test_utils import HeightBandPredictor, frame_to_messages, ros_domain

from loc_ros.conversions import InputError

pytestmark = pytest.mark.ros
pytest.importorskip('tf2_msgs.msg', reason='tf2_msgs (ROS, or ../shared/ros2cli/ros_tf2_msgs-*.whl) is needed')
CAMERA_TOPIC = '/cam_front/image_rect/compressed'


class RecordingPredictor(HeightBandPredictor):
    """The stand-in predictor, keeping every Frame the node built."""

    def __init__(self):
        super().__init__()
        self.frames = []

    def predict(self, frame):
        self.frames.append(frame)
        return super().predict(frame)


@pytest.fixture(scope='module', autouse=True)
def ros():
    import rclpy

    os.environ.update(ROS_DOMAIN_ID=str(ros_domain(66)), ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST')
    rclpy.init()
    yield
    rclpy.try_shutdown()


@pytest.fixture(scope='module')
def toy_bag(tmp_path_factory):
    from rosbags_tools.writer import write_frames_to_bag

    out = tmp_path_factory.mktemp('tf') / 'toy'
    write_frames_to_bag(toy_frames(5), toy_calibration(), out, progress=False)
    return out


@pytest.fixture(scope='module')
def harness():
    from rclpy.parameter import Parameter
    from ros_harness import Harness

    from loc_ros.node import LocNode

    predictor = RecordingPredictor()
    node = LocNode(predictor=predictor, parameter_overrides=[
        Parameter('calibration_file', value=''), Parameter('camera_topics', value=[CAMERA_TOPIC]),
        Parameter('input_qos', value='reliable'), Parameter('prompts', value=['ground', 'car'])])
    harness = Harness(node, toy_calibration(), outputs=('voxels',))
    harness.predictor = predictor
    yield harness
    harness.close()


def _wait(condition, timeout=20.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, 'timed out'
        time.sleep(0.05)


def test_topic_parameters_give_the_rig_without_extrinsics(harness):
    rig = harness.node.calibration
    assert harness.node.static_tf is not None and rig.lidar_topic == '/lidar_top/points'
    assert [(c.name, c.info_topic) for c in rig.cameras] == [('cam_front', '/cam_front/camera_info')]


def test_frames_before_the_transforms_are_dropped_with_the_missing_frames_named(harness):
    counts = harness.node.stats.counts
    frame = toy_frames(1)[0]
    calibration = toy_calibration()  # for the topics and frame ids the messages carry
    for k in range(2):
        harness.publish(frame_to_messages(frame, calibration, T0_NS - 10**10 + k * 10**8))
    _wait(lambda: counts.get('drop.missing_tf', 0) >= 1)
    assert counts.get('published', 0) == 0 and not harness.predictor.frames
    # the error names every sensor frame without a transform to the base frame
    messages = frame_to_messages(frame, calibration, T0_NS)
    lidar_msg, image = messages['/lidar_top/points'], messages[CAMERA_TOPIC]
    with pytest.raises(InputError, match=r"no transform to 'base_link' from 'lidar_top' \(LiDAR\), "
                                         r"'cam_front' \(camera cam_front\)") as err:
        harness.node.static_tf.rig_for(harness.node.calibration, harness.node.cameras, lidar_msg,
                                       {'cam_front': image}, {})  # cameras are named by topic namespace
    assert err.value.reason == 'missing_tf'


def test_a_played_bag_gives_the_node_its_extrinsics_through_tf_static(harness, toy_bag):
    from rosbags_tools.player import BagPlayer

    node, predictor = harness.node, harness.predictor
    report = BagPlayer(toy_bag, rate=2.0, wait_for_subscribers_s=10.0).play()
    assert report.published['/tf_static'] == 1 and not report.unplayable
    stamps = [f.timestamp_ns for f in toy_frames(5)]
    _wait(lambda: sum(1 for f in predictor.frames if f.timestamp_ns in stamps) >= 3)
    harness.wait_for('voxels', lambda m: m.header.stamp.sec * 10**9 + m.header.stamp.nanosec in stamps)
    for frame in (f for f in predictor.frames if f.timestamp_ns in stamps):
        np.testing.assert_allclose(frame.lidar_to_ego, LIDAR_MOUNT, atol=1e-6)
        (camera,) = frame.cameras
        np.testing.assert_allclose(camera.cam_to_ego, CAMERA_MOUNT, atol=1e-6)
        np.testing.assert_allclose(camera.intrinsics, K)
    assert node.static_tf.lookup('cam_front', 'lidar_top') == pytest.approx(
        np.linalg.inv(LIDAR_MOUNT) @ CAMERA_MOUNT, abs=1e-6)


def test_an_unusable_transform_is_counted_and_the_others_kept(harness):
    from geometry_msgs.msg import TransformStamped
    from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
    from tf2_msgs.msg import TFMessage

    qos = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE, durability=DurabilityPolicy.TRANSIENT_LOCAL)
    publisher = harness.io.create_publisher(TFMessage, '/tf_static', qos)
    bad = TransformStamped(child_frame_id='radar')
    bad.header.frame_id = 'base_link'
    bad.transform.translation.x = float('nan')
    bad.transform.rotation.w = 1.0
    zero = TransformStamped(child_frame_id='sonar')
    zero.header.frame_id = 'base_link'
    zero.transform.rotation.w = 0.0  # quaternion (0, 0, 0, 0): no rotation at all
    before = harness.node.stats.counts.get('drop.bad_tf', 0)
    publisher.publish(TFMessage(transforms=[bad, zero]))
    _wait(lambda: harness.node.stats.counts.get('drop.bad_tf', 0) == before + 2)
    harness.io.destroy_publisher(publisher)
    np.testing.assert_allclose(harness.node.static_tf.lookup('lidar_top', 'base_link'), LIDAR_MOUNT, atol=1e-6)
    with pytest.raises(LookupError, match="'radar'"):
        harness.node.static_tf.lookup('radar', 'base_link')
