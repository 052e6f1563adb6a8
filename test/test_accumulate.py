"""Multi-keyframe LiDAR input (loc_core.data.accumulate): a fixed world point seen from two poses
lands in one place; scenes and stamps reset the history; labels of earlier points are not scored."""
import numpy as np
import pytest

from loc_core.data import Frame
from loc_core.data.accumulate import PointAccumulator, accumulate, earlier_point_ages, with_earlier_points
from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.geometry.transforms import apply_transform, invert, make_transform

LIDAR_TO_EGO = make_transform([0.9, 0.0, 1.8], [1, 0, 0, 0])
WORLD_POINTS = np.array([[20.0, 3.0, 0.5], [12.0, -4.0, 1.5]])


def _frame(ego_x: float, yaw: float, stamp: int, scene: str = 's', labels=True) -> Frame:
    """The two world points as this pose's LiDAR sees them."""
    half = yaw / 2
    ego_to_world = make_transform([ego_x, 1.0, 0.0], [np.cos(half), 0, 0, np.sin(half)])
    points = apply_transform(invert(ego_to_world @ LIDAR_TO_EGO), WORLD_POINTS).astype(np.float32)
    return Frame(timestamp_ns=stamp, points=points, intensity=np.array([5.0, 7.0], np.float32),
                 lidar_to_ego=LIDAR_TO_EGO, ego_to_world=ego_to_world, scene=scene,
                 point_labels=np.array([4, 11], np.uint8) if labels else None, ring=np.zeros(2, np.int64))


def test_earlier_points_land_where_the_current_frame_sees_them():
    first, second = _frame(0.0, 0.0, 1), _frame(5.0, 0.3, 2)
    merged = with_earlier_points(second, [first])
    assert len(merged.points) == 4 and merged.ring is None
    np.testing.assert_allclose(merged.points[2:], second.points, atol=1e-4)  # the same world points
    np.testing.assert_allclose(apply_transform(merged.lidar_to_world, merged.points[2:]), WORLD_POINTS, atol=1e-4)
    assert merged.intensity.tolist() == [5.0, 7.0, 5.0, 7.0]
    assert merged.point_labels.tolist() == [4, 11, UNLABELLED_ID, UNLABELLED_ID]
    assert with_earlier_points(second, []) is second


def test_the_accumulator_keeps_k_frames_of_one_scene_in_time_order():
    frames = [_frame(2.0 * i, 0.0, i + 1) for i in range(4)] + [_frame(0.0, 0.0, 1, scene='other')]
    counts = [len(f.points) for f in accumulate(frames, 2)]
    assert counts == [2, 4, 6, 6, 2]  # at most two earlier frames; a new scene starts over
    back = PointAccumulator(3)
    back(_frame(0.0, 0.0, 5))
    assert len(back(_frame(1.0, 0.0, 4)).points) == 2  # a stamp going backwards starts over
    assert [len(f.points) for f in accumulate(frames, 0)] == [2] * 5
    with pytest.raises(ValueError):
        PointAccumulator(-1)


def test_point_ages_count_frames_back():
    frames = [_frame(2.0 * i, 0.0, i + 1) for i in range(4)]
    history = PointAccumulator(2)
    ages = []
    for frame in frames:
        merged = history(frame)
        assert len(history.last_ages) == len(merged.points)
        ages.append(history.last_ages.tolist())
    assert ages == [[0, 0], [0, 0, 1, 1], [0, 0, 2, 2, 1, 1], [0, 0, 2, 2, 1, 1]]  # oldest first after the own sweep
    assert earlier_point_ages(3, []).tolist() == [0, 0, 0]
    single = PointAccumulator(0)
    assert single(frames[0]) is frames[0] and single.last_ages.tolist() == [0, 0]
