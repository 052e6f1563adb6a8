"""Occ3D labels files: bit-exact round trip, clear errors for malformed files, atomic writes."""
import numpy as np
import pytest

from loc_core.data.occ3d_io import Occ3DFormatError, Occ3DLabels, load_occ3d_labels, save_occ3d_labels


@pytest.mark.sample_data
def test_sample_round_trips_bit_exactly(occ3d_sample_path, tmp_path):
    labels = load_occ3d_labels(occ3d_sample_path)
    assert labels.shape == (200, 200, 16)
    with np.load(occ3d_sample_path, allow_pickle=False) as raw:
        original = {k: raw[k] for k in raw.files}
    out = save_occ3d_labels(tmp_path / 'scene' / 'token' / 'labels.npz', labels)
    again = load_occ3d_labels(out)
    for key in ('semantics', 'mask_lidar', 'mask_camera'):
        np.testing.assert_array_equal(getattr(again, key), original[key])
        assert getattr(again, key).dtype == np.uint8
    assert [p.name for p in out.parent.iterdir()] == ['labels.npz']  # no temporary file left


def _arrays(**override):
    arrays = {k: np.zeros((200, 200, 16), np.uint8) for k in ('semantics', 'mask_lidar', 'mask_camera')}
    arrays['semantics'][:] = 17
    arrays.update(override)
    return arrays


@pytest.mark.parametrize('arrays, problem', [
    (_arrays(semantics=np.zeros((200, 200, 15), np.uint8)), 'shape'),
    (_arrays(mask_camera=np.zeros((200, 200, 16), np.int32)), 'uint8'),
    ({k: v for k, v in _arrays().items() if k != 'mask_lidar'}, "missing key 'mask_lidar'"),
    (_arrays(semantics=np.full((200, 200, 16), 40, np.uint8)), 'outside 0-17'),
    (_arrays(mask_lidar=np.full((200, 200, 16), 3, np.uint8)), '0/1'),
])
def test_malformed_files_get_clear_errors(tmp_path, arrays, problem):
    path = tmp_path / 'labels.npz'
    np.savez(path, **arrays)
    with pytest.raises(Occ3DFormatError, match=problem):
        load_occ3d_labels(path)


def test_corrupt_file_and_pickles_are_rejected(tmp_path):
    corrupt = tmp_path / 'corrupt.npz'
    corrupt.write_bytes(b'PK\x03\x04 not really a zip')
    with pytest.raises(Occ3DFormatError, match='not a readable'):
        load_occ3d_labels(corrupt)
    pickled = tmp_path / 'pickled.npz'
    np.savez(pickled, semantics=np.array([{'a': 1}], dtype=object), mask_lidar=0, mask_camera=0)
    with pytest.raises(Occ3DFormatError):
        load_occ3d_labels(pickled)


def test_invalid_labels_are_never_written(tmp_path):
    arrays = _arrays()
    labels = Occ3DLabels(**arrays)
    labels.semantics = np.full((200, 200, 16), 99, np.uint8)
    with pytest.raises(Occ3DFormatError):
        save_occ3d_labels(tmp_path / 'x' / 'labels.npz', labels)
    assert not (tmp_path / 'x' / 'labels.npz').exists()


def test_open_set_extension_round_trips_and_is_checked(tmp_path):
    arrays = _arrays()
    arrays['semantics'][10, 10, 3] = 0
    open_set = arrays['semantics'].copy()
    open_set[10, 10, 3] = 21  # a novel object's voxel
    labels = Occ3DLabels(**arrays, semantics_open=open_set)
    back = load_occ3d_labels(save_occ3d_labels(tmp_path / 'labels.npz', labels))
    assert back.novel_mask.sum() == 1 and back.semantics_open[10, 10, 3] == 21
    open_set[0, 0, 0] = 4  # disagrees with semantics outside novel voxels
    with pytest.raises(Occ3DFormatError, match='semantics_open'):
        Occ3DLabels(**arrays, semantics_open=open_set)


def test_atomic_writes_get_ordinary_permissions(tmp_path):
    import stat

    from loc_core.data import occ3d_io

    path = occ3d_io.atomic_write_bytes(tmp_path / 'out.bin', b'x')
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~occ3d_io._UMASK
