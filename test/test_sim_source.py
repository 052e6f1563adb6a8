"""SyntheticSource yields Frames shaped exactly like NuScenesSource's, deterministically."""
import hashlib

import numpy as np
import pytest

from loc_core.data.frame import Frame
from loc_core.data.nuscenes_source import CAMERA_NAMES
from loc_core.data.occ3d_io import NOVEL_ID_MIN, OCC3D_SHAPE
from loc_core.data.vocabulary import FREE_ID
from loc_core.sim import NOVEL_CLASSES, SyntheticSource



def _digest(frame: Frame) -> str:
    h = hashlib.sha256()
    for arr in (frame.points, frame.intensity, frame.ring, frame.point_labels, frame.point_instance_ids,
                frame.ego_to_world, frame.boxes.poses, frame.occupancy.semantics, frame.occupancy.mask_lidar,
                frame.occupancy.mask_camera, frame.occupancy.semantics_open,
                *[c.image for c in frame.cameras], *[c.pixel_labels for c in frame.cameras]):
        h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def source():
    return SyntheticSource(seed=3, num_frames=4)


@pytest.fixture(scope='module')
def frame(source):
    return source.frame(1)


def test_frame_looks_like_nuscenes(source, frame):
    assert len(source) == 4
    assert frame.camera_names == list(CAMERA_NAMES)
    for cam in frame.cameras:
        assert cam.image.shape == (256, 704, 3) and cam.image.dtype == np.uint8
        assert cam.jpeg is None
        assert cam.pixel_labels.shape == (256, 704) and cam.pixel_labels.dtype == np.uint8
        assert cam.pixel_labels.max() <= FREE_ID
        assert cam.intrinsics[0, 2] == pytest.approx(352.0)
    assert 20_000 < len(frame.points) < 40_000
    assert frame.points.dtype == np.float32 and frame.ring.dtype == np.uint8
    assert frame.point_labels.dtype == np.uint8 and frame.point_instance_ids.dtype == np.int32
    assert frame.ring.max() < 32
    assert frame.lidar_to_ego[2, 3] == pytest.approx(1.84)
    assert frame.occupancy.semantics.shape == OCC3D_SHAPE
    assert frame.scene == 'synth-s3' and frame.token == 'synth-s3-f0001'
    assert frame.timestamp_ns - source.frame(0).timestamp_ns == 500_000_000


def test_boxes_are_stable_over_frames(source, frame):
    first = source.frame(0)
    common = set(first.boxes.instance_ids) & set(frame.boxes.instance_ids)
    assert len(common) > 10
    assert all(i.startswith('synth-s3-obj') for i in frame.boxes.instance_ids)
    # the points' instance ids name boxes of the same frame
    things = np.unique(frame.point_instance_ids[frame.point_instance_ids >= 0])
    names = {source.instance_token(i) for i in things}
    assert len(names) > 10
    assert len(names & set(frame.boxes.instance_ids)) >= 0.9 * len(names)


def test_same_seed_same_bytes_and_different_seeds_differ(frame):
    again = SyntheticSource(seed=3, num_frames=4).frame(1)
    assert _digest(again) == _digest(frame)
    other = SyntheticSource(seed=4, num_frames=4).frame(1)
    assert _digest(other) != _digest(frame)
    assert not np.array_equal(other.occupancy.semantics, frame.occupancy.semantics)


def test_novel_classes_are_outside_occ3d_ids():
    assert SyntheticSource.novel_classes() == NOVEL_CLASSES
    assert min(NOVEL_CLASSES) >= NOVEL_ID_MIN
    assert len(set(NOVEL_CLASSES.values())) == len(NOVEL_CLASSES)


def test_frames_do_not_depend_on_the_sequence_length_or_order(source, frame):
    longer = SyntheticSource(seed=3, num_frames=30)
    assert _digest(longer.frame(1)) == _digest(frame)
    assert _digest(source.frame(-3)) == _digest(frame)  # negative index, after other frames
    with pytest.raises(IndexError):
        source.frame(4)
    with pytest.raises(TypeError):
        source.frame(1.5)
