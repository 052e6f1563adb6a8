"""`loc-gt --semantickitti` on a shared sequence, in two chunks of two scans with the other two as
context: dense labels in the usual layout, a moving car kept in its own scan (not smeared along its
path into the other scans' labels), the static world labelled, and bad arguments refused."""
import json

import numpy as np
import pytest

from loc_core.data.occ3d_io import load_occ3d_labels
from loc_core.data.semantickitti_source import SemanticKittiSource
from loc_core.data.vocabulary import FREE_ID, class_id
from loc_core.geometry.transforms import apply_transform, invert
from loc_core.gt import cli
from loc_core.gt.config import KITTI_EGO_BOX, DenseLabelConfig

SEQUENCE = '02'  # a car drives from 43 m to 31 m ahead between scans 0 and 9 (about 39 m at scan 3)


@pytest.fixture(scope='module')
def labelled(semantickitti_root, tmp_path_factory):
    out = tmp_path_factory.mktemp('gt')
    # chunks (0, 3) and (6, 9), each fusing all four scans; shard 1 of 2 labels the second keyframe
    # of each chunk: scans 000003 and 000009
    code = cli.main(['--semantickitti', str(semantickitti_root), '--sequences', SEQUENCE, '--out', str(out),
                     '--chunk-scans', '2', '--context-scans', '2', '--num-shards', '2', '--shard-index', '1',
                     '--no-progress'])
    assert code == 0
    return out / f'semantickitti-{SEQUENCE}'


def test_layout_and_settings(labelled):
    assert sorted(p.name for p in labelled.iterdir()) == ['02_000003', '02_000009', 'dense_label_settings.json']
    settings = json.loads((labelled / 'dense_label_settings.json').read_text())
    assert settings['source']['kind'] == 'semantickitti' and settings['source']['sequence'] == SEQUENCE
    assert tuple(settings['config']['ego_box']) == KITTI_EGO_BOX
    labels = load_occ3d_labels(labelled / '02_000009' / 'labels.npz')
    occupied = labels.semantics != FREE_ID
    assert occupied.sum() > 10000
    assert (labels.semantics[occupied] != 255).mean() > 0.95  # SemanticKITTI labels nearly every point
    assert (labels.semantics == class_id('driveable_surface')).sum() > 2000


def test_moving_car_stays_in_its_own_scan(labelled, semantickitti_root):
    source = SemanticKittiSource(semantickitti_root, SEQUENCE, scans=[3, 9], with_camera=False)
    first, last = list(source)
    moving = last.point_moving & (last.point_labels == class_id('car'))
    assert moving.sum() > 200
    grid = DenseLabelConfig().grid

    def car_share(frame, token):
        to_ego = invert(frame.ego_to_world) @ last.lidar_to_world
        points = apply_transform(to_ego, last.points[moving].astype(np.float64))
        index = np.unique(grid.point_to_index(points[grid.in_range(points)]), axis=0)
        semantics = load_occ3d_labels(labelled / token / 'labels.npz').semantics
        return len(index), (semantics[tuple(index.T)] == class_id('car')).mean()

    voxels, own = car_share(last, '02_000009')
    assert voxels > 20 and own > 0.6  # where the car is in scan 9, scan 9's labels say car
    _, elsewhere = car_share(first, '02_000003')
    assert elsewhere < 0.1  # ... and scan 3's labels do not: it was 8 m farther then


def test_bad_arguments(semantickitti_root, tmp_path, capsys):
    assert cli.main(['--semantickitti', str(semantickitti_root), '--sequences', '42', '--out', str(tmp_path)]) == 2
    assert 'no SemanticKITTI sequence 42' in capsys.readouterr().err
    assert cli.main(['--lidarseg', str(tmp_path), '--sequences', '01', '--out', str(tmp_path)]) == 2
    assert '--sequences goes with --semantickitti' in capsys.readouterr().err
    assert cli.main(['--semantickitti', str(semantickitti_root), '--chunk-scans', '0', '--out', str(tmp_path)]) == 2
    assert '--chunk-scans must be >= 1' in capsys.readouterr().err
