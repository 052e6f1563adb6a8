"""`loc-sim` writes a sequence (Occ3D labels.npz per frame, LiDAR, boxes, images) and a preview
PNG; what it writes reads back into the same Frames; bad input is a clear error."""
import json

import numpy as np
import pytest
from PIL import Image

from loc_core.data.occ3d_io import load_occ3d_labels
from loc_core.sim import SyntheticSource
from loc_core.sim.cli import main
from loc_core.sim.sequence_io import SequenceFolder, frame_folder, read_frame


@pytest.fixture(scope='module')
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp('sim') / 'seq'
    assert main(['--seed', '6', '--frames', '2', '--out', str(out)]) == 0
    return out


def test_writes_a_sequence_with_occ3d_labels_and_a_preview(written):
    meta = json.loads((written / 'sequence.json').read_text())
    assert meta['scene'] == 'synth-s6' and meta['frames'] == ['frames/0000', 'frames/0001']
    labels = load_occ3d_labels(frame_folder(written, 1) / 'labels.npz')
    assert labels.semantics.shape == (200, 200, 16) and labels.semantics_open is not None
    preview = np.asarray(Image.open(written / 'preview.png'))
    assert preview.ndim == 3 and preview.shape[0] >= 4 * 256 and preview.shape[1] > 3 * 704
    assert len(np.unique(preview.reshape(-1, 3), axis=0)) > 100  # a picture, not a blank
    assert not list(written.rglob('*.tmp')) and not list((written / 'frames').glob('.*'))


def test_written_frames_read_back_identical(written):
    expected = SyntheticSource(6, 2).frame(1)
    frame = read_frame(frame_folder(written, 1))
    assert frame.token == expected.token and frame.timestamp_ns == expected.timestamp_ns
    for key in ('points', 'intensity', 'ring', 'point_labels', 'point_instance_ids', 'ego_to_world'):
        assert np.array_equal(getattr(frame, key), getattr(expected, key)), key
    assert np.array_equal(frame.occupancy.mask_camera, expected.occupancy.mask_camera)
    assert list(frame.boxes.instance_ids) == list(expected.boxes.instance_ids)
    for got, want in zip(frame.cameras, expected.cameras):
        assert got.name == want.name and np.array_equal(got.image, want.image)
        assert np.array_equal(got.pixel_labels, want.pixel_labels) and np.allclose(got.intrinsics, want.intrinsics)


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    config = tmp_path / 'bad.yaml'
    config.write_text('lidar:\n  beams: 0\n')
    with pytest.raises(SystemExit) as exc:
        main(['--seed', '1', '--frames', '2', '--out', str(tmp_path / 'a'), '--config', str(config)])
    assert exc.value.code == 2 and 'beams must be a positive integer' in capsys.readouterr().err
    config.write_text('disabled_classes: [dragon]\n')
    with pytest.raises(SystemExit):
        main(['--seed', '1', '--frames', '2', '--out', str(tmp_path / 'a'), '--config', str(config)])
    assert 'dragon' in capsys.readouterr().err
    busy = tmp_path / 'busy'
    busy.mkdir()
    (busy / 'keep.txt').write_text('x')
    with pytest.raises(SystemExit):
        main(['--seed', '1', '--frames', '1', '--out', str(busy)])
    assert 'not empty' in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(['--seed', '-4', '--frames', '1', '--out', str(tmp_path / 'b')])
    assert 'seed must be a non-negative integer' in capsys.readouterr().err


def test_config_file_sets_the_world(tmp_path):
    config = tmp_path / 'small.yaml'
    config.write_text('camera: {width: 352, height: 128}\nlidar: {beams: 16, azimuth_steps: 500}\n'
                      'novel_probability: 1.0\n')
    out = tmp_path / 'small'
    assert main(['--seed', '2', '--frames', '1', '--out', str(out), '--config', str(config)]) == 0
    frame = read_frame(frame_folder(out, 0))
    assert all(cam.image.shape == (128, 352, 3) for cam in frame.cameras)
    assert frame.ring.max() < 16 and len(frame.points) < 16 * 500
    assert json.loads((out / 'sequence.json').read_text())['config']['camera']['width'] == 352


def test_sequence_folder_reads_the_written_frames(written, tmp_path):
    frames = list(SequenceFolder(written))
    assert [f.token for f in frames] == ['synth-s6-f0000', 'synth-s6-f0001']
    with pytest.raises(FileNotFoundError, match='not a loc-sim output folder'):
        SequenceFolder(tmp_path)
    (tmp_path / 'sequence.json').write_text('{"frames": ["frames/0000"]}')
    with pytest.raises(ValueError, match='cannot read synthetic frame'):
        SequenceFolder(tmp_path).frame(0)
    (tmp_path / 'sequence.json').write_text('not json')
    with pytest.raises(ValueError, match='not a valid loc-sim sequence'):
        SequenceFolder(tmp_path)
