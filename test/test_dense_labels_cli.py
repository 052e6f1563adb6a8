"""`loc-gt` end to end on real data: Occ3D layout, shards, worker pool, resume, damaged files,
settings guard, missing and corrupt blobs."""
import json
import os
from pathlib import Path

import pytest

from loc_core.data.occ3d_io import load_occ3d_labels
from loc_core.gt import cli
from loc_core.gt.output import SETTINGS_NAME

pytestmark = pytest.mark.sample_data
FAST = ['--set', 'poisson=false', '--set', 'lidar_mask_window=1', '--no-progress']


def _label_files(out):
    return sorted(Path(out).glob('*/*/labels.npz'))


def test_shards_workers_resume_and_settings_guard(lidarseg_folder, tmp_path, capsys):
    out = tmp_path / 'gt'
    base = ['--lidarseg', str(lidarseg_folder), '--out', str(out)] + FAST
    assert cli.main(base + ['--num-shards', '2', '--shard-index', '0', '--workers', '2']) == 0
    assert len(_label_files(out)) == 6  # keyframes 0, 2, 4, 6, 8, 10
    assert cli.main(base + ['--num-shards', '2', '--shard-index', '1']) == 0
    files = _label_files(out)
    assert [f.parent.name for f in files] == [f'frame_{i:02d}' for i in range(11)]
    for path in files:
        load_occ3d_labels(path)  # valid Occ3D files
    settings = json.loads((out / 'lidarseg-11frames' / SETTINGS_NAME).read_text())
    assert settings['config']['poisson'] is False and settings['source']['kind'] == 'lidarseg'
    capsys.readouterr()

    stamps = {f: f.stat().st_mtime_ns for f in files}
    files[3].write_bytes(b'not an npz')  # a damaged file is relabelled, finished ones are skipped
    assert cli.main(base) == 0
    assert '10 already finished, 1 to label' in capsys.readouterr().out
    assert [f for f in files if f.stat().st_mtime_ns != stamps[f]] == [files[3]]
    load_occ3d_labels(files[3])
    assert not list(out.rglob('*.tmp'))  # no half-written files left behind

    assert cli.main(base[:-len(FAST)] + ['--set', 'knn_k=3', '--no-progress']) == 2  # other settings
    assert 'other settings' in capsys.readouterr().err


def _dataroot_with_bad_blobs(source_root: Path, target: Path):
    """A copy of the nuScenes dataroot made of symlinks, with the 2nd keyframe's LiDAR blob missing
    and the 3rd's truncated."""
    target.mkdir(parents=True)
    (target / 'v1.0-mini').symlink_to(source_root / 'v1.0-mini')
    (target / 'maps').symlink_to(source_root / 'maps')
    lidar = sorted((source_root / 'samples' / 'LIDAR_TOP').iterdir())
    for channel in (source_root / 'samples').iterdir():
        (target / 'samples' / channel.name).mkdir(parents=True)
        for blob in channel.iterdir():
            if blob != lidar[1] and blob != lidar[2]:
                os.symlink(blob, target / 'samples' / channel.name / blob.name)
    (target / 'samples' / 'LIDAR_TOP' / lidar[2].name).write_bytes(lidar[2].read_bytes()[:1001])


def test_missing_and_corrupt_lidar_blobs_are_skipped_and_reported(nuscenes_dataroot, tmp_path, capsys):
    root = tmp_path / 'nuscenes'
    _dataroot_with_bad_blobs(Path(nuscenes_dataroot), root)
    out = tmp_path / 'gt'
    code = cli.main(['--dataroot', str(root), '--version', 'v1.0-mini', '--out', str(out), '--limit', '2'] + FAST)
    printed = capsys.readouterr().out
    assert code == 0
    assert "'skipped_keyframes': 2" in printed and '39 frames' in printed
    files = _label_files(out)
    assert len(files) == 2 and files[0].parent.parent.name == 'scene-0916'
    assert all(len(f.parent.name) == 32 for f in files)  # nuScenes sample tokens


def test_bad_arguments_exit_with_a_message(tmp_path, capsys):
    assert cli.main(['--out', str(tmp_path)]) == 2
    assert 'choose exactly one source' in capsys.readouterr().err
    assert cli.main(['--lidarseg', str(tmp_path), '--out', str(tmp_path)]) == 2  # no frames.json
    assert cli.main(['--lidarseg', str(tmp_path), '--out', str(tmp_path), '--set', 'window=-1']) == 2


def test_a_dataroot_the_devkit_rejects_is_a_clear_error(nuscenes_dataroot, tmp_path, capsys):
    root = tmp_path / 'nuscenes'
    root.mkdir()
    (root / 'v1.0-mini').symlink_to(Path(nuscenes_dataroot) / 'v1.0-mini')  # no maps/
    assert cli.main(['--dataroot', str(root), '--out', str(tmp_path / 'gt')]) == 2
    assert 'cannot load' in capsys.readouterr().err


def test_several_scenes_arguments(nuscenes_dataroot, tmp_path, capsys):
    out = ['--out', str(tmp_path / 'gt')]
    parsed = cli.build_parser().parse_args(['--synthetic', '--seeds', '4,2-4', '--frames', '2'] + out)
    assert [job['seed'] for job in cli.scene_jobs(parsed)[0]] == [4, 2, 3]  # in order, once each
    jobs, tables = cli.scene_jobs(cli.build_parser().parse_args(['--dataroot', str(nuscenes_dataroot),
                                                                  '--scene', 'all'] + out))
    assert [job['scene'] for job in jobs] == ['scene-0916'] and tables is not None
    for argv, message in [(['--dataroot', str(nuscenes_dataroot), '--scene', 'scene-0916,scene-9999'],
                           'unknown scene scene-9999'),
                          (['--dataroot', str(nuscenes_dataroot), '--seeds', '1,2'], '--seeds goes with --synthetic'),
                          (['--synthetic', '--seed', '1', '--seeds', '2'], 'instead of --seed'),
                          (['--synthetic', '--seeds', '4-2'], 'is empty'),
                          (['--synthetic', '--ray-tasks', 'scene'], '--ray-tasks goes with --ray')]:
        assert cli.main(argv + out) == 2, argv
        assert message in capsys.readouterr().err, argv
    assert not (tmp_path / 'gt').exists()
