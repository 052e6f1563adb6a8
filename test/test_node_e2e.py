"""loc_node end to end with real rclpy/DDS in the test process: synchronised frames from the
synthetic world and from the shared nuScenes scene go in; markers, voxels, grid, BEV and the legend
come out with the expected classes."""
import json
import sys

import numpy as np
import pytest
from ros_test_utils import (GroundTruthPredictor, calibration_for_frame, frame_to_messages, ros_module_context,
                            start_node, synthetic_frame)

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_ros.node import GIL_SWITCH_INTERVAL_S
from loc_ros.outputs import surface_mask

pytestmark = pytest.mark.ros
PROMPTS = ['road', 'car', 'pole', 'sky']


@pytest.fixture(scope='module', autouse=True)
def ros():
    yield from ros_module_context('test_node_e2e')


def _namespaces(msg):
    return {m.ns for m in msg.markers if m.action == 0}


def test_synthetic_world_frames_produce_all_outputs(tmp_path):
    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    calibration.cameras[1].image_topic = '/cam_left/image_rect/compressed'  # one Image, one CompressedImage
    harness, predictor = start_node(tmp_path, calibration, prompts=PROMPTS)
    try:
        legend = json.loads(harness.wait_for('legend').data)
        assert [c['prompt'] for c in legend['classes']] == PROMPTS
        for k in range(3):
            harness.publish(frame_to_messages(frame, calibration, 10**9 + k * 10**8))
            harness.wait_for('markers', after=k)  # markers go out last
        markers = harness.received['markers'][0]
        assert markers.markers[0].action == 3  # DELETEALL leads the first array
        assert {'road', 'car', 'unknown'} <= _namespaces(markers)
        assert all(m.header.frame_id == 'base_link' for m in markers.markers)
        voxels = harness.wait_for('voxels')
        grid = harness.wait_for('grid')
        labels = np.frombuffer(grid.data, dtype=np.uint8).reshape(VoxelGrid().shape)
        assert voxels.width == int((labels != 255).sum()) > 100
        assert (voxels.header.stamp.sec, voxels.header.stamp.nanosec) == (1, 0)
        car_index = VoxelGrid().point_to_index(np.array([[7.0, 0.0, 0.9]]))[0]  # inside the synthetic car
        assert labels[tuple(car_index)] == PROMPTS.index('car')
        bev = harness.wait_for('bev')
        assert np.asarray(bev.data).reshape(200, 200)[100, 117] == 100  # car column (y=0 -> row 100, x=7 m)
        assert predictor.camera_sets[0] == {'CAM_FRONT': (48, 64, 3), 'CAM_LEFT': (48, 64, 3)}
        diagnostics = harness.wait_for('diagnostics', lambda m: any(
            kv.key == 'published' and kv.value == '3' for s in m.status for kv in s.values))
        values = {kv.key: kv.value for kv in diagnostics.status[0].values}
        assert float(values['latency_p50_ms']) > 0
    finally:
        harness.close()


def test_messages_are_built_only_for_topics_with_subscribers(tmp_path):
    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    harness, _ = start_node(tmp_path, calibration, outputs=('grid', 'legend'), prompts=PROMPTS)
    try:
        harness.publish(frame_to_messages(frame, calibration, 10**9))
        harness.wait_for('grid')
        assert harness.node.outputs.built == {'grid': 1}
        # the node shortens the GIL switch interval: rclpy's executor loop otherwise starves the worker
        assert sys.getswitchinterval() <= GIL_SWITCH_INTERVAL_S
    finally:
        harness.close()


def test_synthetic_world_labels_arrive_voxel_for_voxel(tmp_path):
    from loc_core.data.vocabulary import FREE_ID, OCC3D_PROMPTS
    from loc_core.sim import SyntheticSource

    frames = list(SyntheticSource(seed=0, num_frames=2))
    calibration = calibration_for_frame(frames[0], compressed=True)
    for cam in calibration.cameras[::2]:  # half the cameras send raw Image, half CompressedImage
        cam.image_topic = cam.image_topic.replace('/compressed', '')
    predictor = GroundTruthPredictor(frames)
    harness, _ = start_node(tmp_path, calibration, predictor=predictor, prompts=list(OCC3D_PROMPTS))
    try:
        for k, frame in enumerate(frames):
            harness.publish(frame_to_messages(frame, calibration, frame.timestamp_ns))
            harness.wait_for('grid', after=k, timeout=30)
        grids = harness.received['grid'][:2]
        for frame, grid in zip(frames, grids):
            labels = np.frombuffer(grid.data, dtype=np.uint8).reshape(VoxelGrid().shape)
            truth = frame.occupancy.semantics
            assert np.array_equal(labels == 255, truth == FREE_ID)
            assert np.array_equal(labels[truth != FREE_ID], truth[truth != FREE_ID])
        seen = predictor.frames_seen[0]
        assert np.array_equal(seen.points, frames[0].points)
        assert [c.name for c in seen.cameras] == [c.name for c in frames[0].cameras]
        for got, sent in zip(seen.cameras, frames[0].cameras):
            assert np.allclose(got.intrinsics, sent.intrinsics) and np.allclose(got.cam_to_ego, sent.cam_to_ego)
            assert got.image.shape == sent.image.shape
        raw = seen.camera(calibration.cameras[0].name).image  # lossless path
        assert np.array_equal(raw, frames[0].camera(calibration.cameras[0].name).image)
        last_stamp = divmod(frames[-1].timestamp_ns, 10**9)
        markers = harness.wait_for('markers', lambda m: (m.markers[-1].header.stamp.sec,
                                                         m.markers[-1].header.stamp.nanosec) == last_stamp)
        present = {OCC3D_PROMPTS[i] for i in np.unique(frames[-1].occupancy.semantics) if i != FREE_ID}
        assert _namespaces(markers) == present
        semantics = frames[-1].occupancy.semantics
        surface = surface_mask(semantics != FREE_ID)  # markers hold the visible voxels only
        for marker in markers.markers:
            if marker.action == 0:
                class_id = OCC3D_PROMPTS.index(marker.ns)
                assert len(marker.points) == int(((semantics == class_id) & surface).sum())
    finally:
        harness.close()


@pytest.mark.sample_data
def test_nuscenes_scene_frames_go_through_with_six_cameras(tmp_path, nuscenes_source):
    frames = [f for _, f in zip(range(2), iter(nuscenes_source))]
    calibration = calibration_for_frame(frames[0])
    harness, predictor = start_node(tmp_path, calibration, prompts=PROMPTS)
    try:
        for k, frame in enumerate(frames):
            harness.publish(frame_to_messages(frame, calibration, frame.timestamp_ns))
            harness.wait_for('grid', after=k, timeout=30)
        assert len(predictor.camera_sets) == 2
        assert len(predictor.camera_sets[0]) == 6
        assert set(predictor.camera_sets[0].values()) == {(900, 1600, 3)}
        markers = harness.wait_for('markers')
        assert {'road', 'car'} <= _namespaces(markers)
        assert sum(len(m.points) for m in markers.markers) > 1000
        assert harness.node.stats.counts.get('drop.unmatched', 0) == 0
    finally:
        harness.close()
