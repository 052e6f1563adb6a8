"""Frame validation, boxes and the Occ3D vocabulary, plus the lidarseg sequence source."""
import numpy as np
import pytest

from loc_core.data import Boxes, CameraView, Frame
from loc_core.data.vocabulary import (OCC3D_CLASS_NAMES, OCC3D_COLORS, class_id, colorize,
                                      nuscenes_category_to_occ3d)


def _frame(n=10, **kw):
    return Frame(timestamp_ns=1, points=np.zeros((n, 3)), intensity=np.zeros(n), lidar_to_ego=np.eye(4),
                 ego_to_world=np.eye(4), **kw)


def test_frame_validates_lengths_and_dtypes():
    frame = _frame()
    assert frame.points.dtype == np.float32 and frame.intensity.dtype == np.float32
    with pytest.raises(ValueError, match='point_labels has 3 entries for 10 points'):
        _frame(point_labels=np.zeros(3, np.uint8))
    with pytest.raises(ValueError, match='image must be'):
        CameraView('CAM_FRONT', np.zeros((4, 4), np.uint8), np.eye(3), np.eye(4))
    with pytest.raises(KeyError, match='no camera'):
        frame.camera('CAM_BACK')


def test_boxes_contain_and_transform():
    boxes = Boxes.from_xyzwlhyaw([[10, 0, 0, 2, 4, 1.5, np.pi / 2]], [4], ['car-1'])
    pts = np.array([[10, 1.9, 0], [11.5, 0, 0], [10, 0, 0.8]])
    # rotated 90 degrees: the 4 m length runs along ego y
    assert boxes.contains(pts)[0].tolist() == [True, False, False]
    assert boxes.point_box_index(pts).tolist() == [0, -1, -1]
    assert boxes.contains(pts, margin=0.1)[0].tolist() == [True, False, True]
    shifted = boxes.transformed(np.array([[1, 0, 0, -10], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1.0]]))
    np.testing.assert_allclose(shifted.to_xyzwlhyaw()[0], [0, 0, 0, 2, 4, 1.5, np.pi / 2])
    assert boxes.corners().shape == (1, 8, 3)


def test_vocabulary():
    assert len(OCC3D_CLASS_NAMES) == 18 and OCC3D_CLASS_NAMES[17] == 'free'
    assert OCC3D_COLORS.shape == (18, 3)
    assert nuscenes_category_to_occ3d('vehicle.car') == 4
    assert nuscenes_category_to_occ3d('human.pedestrian.adult') == 7
    assert nuscenes_category_to_occ3d('human.pedestrian.stroller') == 0
    assert nuscenes_category_to_occ3d('vehicle.bus.rigid') == 3
    assert nuscenes_category_to_occ3d('vehicle.ego') is None
    with pytest.raises(KeyError):
        nuscenes_category_to_occ3d('spaceship')
    with pytest.raises(ValueError, match='unknown Occ3D class'):
        class_id('spaceship')
    assert colorize(np.array([4, 200])).tolist() == [[255, 158, 0], [255, 0, 255]]


@pytest.mark.sample_data
def test_lidarseg_sequence_loads_with_boxes_in_ego_frame(lidarseg_folder):
    from loc_core.data.lidarseg_source import LidarsegSequenceSource

    source = LidarsegSequenceSource(lidarseg_folder)
    assert len(source) == 11
    frame = source[0]
    assert frame.point_labels.max() <= 16 or 255 in frame.point_labels
    assert 0 not in frame.point_labels  # noise became 255
    # most car-labelled points lie inside some car box (boxes were moved into the ego frame)
    car = frame.point_labels == 4
    inside = frame.boxes.point_box_index(frame.points_ego()[car]) >= 0
    assert car.sum() > 100 and inside.mean() > 0.9
