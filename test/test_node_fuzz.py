"""A tiny version of bench/fuzz_node.py: 40 structurally mutated PointCloud2, Image, CompressedImage
and CameraInfo messages into a loc_node running in another process (with the tests' stand-in
model), then valid frames: no crash, no silent loss, every valid frame served afterwards."""
import os

import numpy as np
import pytest
from bench_modules import load_bench
from ros_test_utils import ros_domain

pytestmark = pytest.mark.ros
fuzz_node = load_bench('fuzz_node')


def test_mutations_are_seeded_and_change_the_message():
    from ros_test_utils import calibration_for_frame, frame_to_messages, synthetic_frame

    frame = synthetic_frame()
    calibration = calibration_for_frame(frame, compressed=False)
    original = frame_to_messages(frame, calibration, 10**9)['/lidar_top/points']
    done = []
    for seed in range(8):
        cloud = frame_to_messages(frame, calibration, 10**9)['/lidar_top/points']
        done.append(fuzz_node.mutate(np.random.default_rng(seed), cloud))
        assert cloud != original, done[-1]
        again = frame_to_messages(frame, calibration, 10**9)['/lidar_top/points']
        assert fuzz_node.mutate(np.random.default_rng(seed), again) == done[-1] and again == cloud
    assert len(set(done)) > 1 and all(text.startswith('PointCloud2 ') for text in done)
    paths = {path for path, _ in fuzz_node._leaves(original)}
    assert {'fields', 'data', 'point_step', 'header.frame_id'} <= paths and 'header.stamp' not in paths


def test_a_short_fuzz_run_finds_no_crash_and_no_silent_loss(tmp_path, monkeypatch):
    monkeypatch.setitem(os.environ, 'ROS_DOMAIN_ID', str(ros_domain(67)))
    monkeypatch.setitem(os.environ, 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    report = fuzz_node.fuzz(seed=1, messages=40, predictor='stand-in', tmp=tmp_path, log=lambda _text: None)
    assert report['mutated_messages'] == 40 and report['by_type'] == {
        'PointCloud2': 10, 'Image': 10, 'CompressedImage': 10, 'CameraInfo': 10}
    assert report['crashes'] == 0 and report['silent_losses'] == [], report
    assert report['valid_after'] == [10, 10], report
    assert report['frame_outcomes'] == 40, report  # each mutated set counted exactly once
    assert report['exit_status'] == 0  # SIGINT after the run: a clean shutdown
    drops = sum(v for k, v in report['outcomes'].items() if k.startswith('drop.'))
    assert drops >= 10 and report['outcomes'].get('published', 0) >= 1, report
