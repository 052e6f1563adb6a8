"""The 2D teacher without the real model: class table, depth test on a hand-made two-surface scene,
vote fusion, source labels kept, settings that refuse mixing labels with and without a teacher."""
import json

import numpy as np
import pytest

from loc_core.data.frame import CameraView, Frame
from loc_core.data.vocabulary import NUM_SEMANTIC_CLASSES, OCC3D_CLASS_NAMES, UNLABELLED_ID, class_id
from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.fusion import fuse_sequence
from loc_core.gt.output import check_or_write_settings, settings_record
from loc_core.gt.teacher_labels import paint_static_points
from loc_core.teacher.classes import (CITYSCAPES_TO_OCC3D, IGNORE_COLUMN, ClassTableError, load_class_table)
from loc_core.teacher.config import TeacherConfig
from loc_core.teacher.painting import PointPainter
from loc_core.teacher.segmenter import SegmentationMap

WIDTH, HEIGHT, FOCAL = 200, 100, 100.0
TREE, WALL = class_id('vegetation'), class_id('manmade')
VEGETATION_ID = TREE
# optical frame (x right, y down, z forward) -> ego (x forward, y left, z up), camera at the origin
CAM_TO_EGO = np.array([[0, 0, 1, 0], [-1, 0, 0, 0], [0, -1, 0, 0], [0, 0, 0, 1]], dtype=np.float64)


class LabelImageSegmenter:
    """A stand-in segmenter: each pixel certain of the class a fixed (H,W) label image holds."""

    def __init__(self, label_image):
        self.label_image = label_image
        self.calls = 0

    def segment(self, rgb):
        self.calls += 1
        probs = np.zeros(self.label_image.shape + (NUM_SEMANTIC_CLASSES + 1,), np.uint8)
        rows, cols = np.indices(self.label_image.shape)
        probs[rows, cols, self.label_image] = 255
        return SegmentationMap(probs, (1.0, 1.0))


def _grid_points(depth, y_range, z_range, step=0.05):
    """Ego-frame points of a wall facing the camera at `depth` metres ahead (x), spanning y, z."""
    y, z = np.meshgrid(np.arange(*y_range, step), np.arange(*z_range, step))
    return np.stack([np.full(y.size, depth), y.ravel(), z.ravel()], axis=1)


@pytest.fixture(scope='module')
def two_surfaces():
    """A small near surface (a 'tree', 5 m ahead) in front of a wide far one (a wall, 10 m ahead).
    The teacher's image shows the tree where the near surface projects, the wall elsewhere."""
    near = _grid_points(5.0, (-0.5, 0.5), (-0.5, 0.5))
    far = _grid_points(10.0, (-3.0, 3.0), (-1.5, 1.5))
    labels = np.full((HEIGHT, WIDTH), WALL, np.uint8)
    cu, cv = WIDTH / 2, HEIGHT / 2
    half = FOCAL * 0.5 / 5.0  # the near surface spans +-10 pixels around the centre
    labels[int(cv - half) - 1:int(cv + half) + 1, int(cu - half) - 1:int(cu + half) + 1] = TREE
    camera = CameraView('CAM', np.full((HEIGHT, WIDTH, 3), 90, np.uint8),
                        [[FOCAL, 0, cu], [0, FOCAL, cv], [0, 0, 1]], CAM_TO_EGO)
    frame = Frame(0, np.concatenate([near, far]), np.zeros(len(near) + len(far)), np.eye(4), np.eye(4),
                  cameras=[camera])
    # far points whose pixel shows the near surface (hidden behind it), and those clear of its outline
    hidden = (np.abs(far[:, 1]) < 0.9) & (np.abs(far[:, 2]) < 0.9)
    clear = (np.abs(far[:, 1]) > 1.3) | (np.abs(far[:, 2]) > 1.3)
    return frame, len(near), hidden, clear, labels


def test_depth_test_keeps_the_near_surface_class_off_the_far_points_behind_it(two_surfaces):
    frame, num_near, hidden, clear, label_image = two_surfaces
    points = frame.points_world()
    index = np.zeros(len(points), np.int64)
    with_test = PointPainter(LabelImageSegmenter(label_image), TeacherConfig(window=0)).paint(points, index, [frame])
    near, far = with_test.labels[:num_near], with_test.labels[num_near:]
    assert np.mean(near == TREE) > 0.95
    assert with_test.votes[num_near:][hidden].sum() == 0  # no vote at all for the hidden far points
    assert np.all(far[hidden] == UNLABELLED_ID)
    assert np.mean(far[clear] == WALL) > 0.95
    without = PointPainter(LabelImageSegmenter(label_image), TeacherConfig(window=0, depth_test=False))
    painted = without.paint(points, index, [frame]).labels[num_near:]
    assert np.mean(painted[hidden] == TREE) > 0.3  # what the depth test prevents


def test_each_image_is_segmented_once_and_source_labels_are_kept_unless_asked(two_surfaces):
    frame, num_near, _, _, label_image = two_surfaces
    labelled = Frame(0, frame.points, frame.intensity, np.eye(4), np.eye(4), cameras=frame.cameras,
                     point_labels=np.where(np.arange(len(frame.points)) < num_near, class_id('car'), UNLABELLED_ID))
    config = DenseLabelConfig(ego_box=None)
    segmenter = LabelImageSegmenter(label_image)
    painter = PointPainter(segmenter, TeacherConfig(window=0))
    fused = fuse_sequence([labelled], config)
    stats = paint_static_points(painter, fused, [labelled])
    assert np.all(fused.static.labels[:num_near] == class_id('car'))  # the source's labels stay
    assert stats['kept_source_labels'] > 0.9 * num_near
    assert np.mean(fused.static.labels[num_near:] == WALL) > 0.5
    overwrite = PointPainter(segmenter, TeacherConfig(window=0, overwrite=True))
    fused = fuse_sequence([labelled], config)
    paint_static_points(overwrite, fused, [labelled])
    assert np.mean(fused.static.labels[:num_near] == TREE) > 0.95
    painter.paint(frame.points_world(), np.zeros(len(frame.points), np.int64), [frame])
    assert segmenter.calls == 2  # one per painter: the second paint by the first painter hit its cache


def test_low_confidence_and_ignored_classes_stay_unlabelled(two_surfaces):
    frame, _, _, _, label_image = two_surfaces
    sky = np.full_like(label_image, IGNORE_COLUMN)
    points, index = frame.points_world(), np.zeros(len(frame.points), np.int64)
    painted = PointPainter(LabelImageSegmenter(sky), TeacherConfig(window=0)).paint(points, index, [frame])
    assert painted.votes.max() == 1 and np.all(painted.labels == UNLABELLED_ID)
    strict = PointPainter(LabelImageSegmenter(label_image), TeacherConfig(window=0, min_votes=2))
    assert np.all(strict.paint(points, index, [frame]).labels == UNLABELLED_ID)  # one camera, one vote
    camera = frame.cameras[0]
    black = CameraView('CAM', np.zeros_like(camera.image), camera.intrinsics, camera.cam_to_ego)
    blind = Frame(0, frame.points, frame.intensity, np.eye(4), np.eye(4), cameras=[black])
    painted = PointPainter(LabelImageSegmenter(label_image), TeacherConfig(window=0)).paint(points, index, [blind])
    assert painted.stats['blank_images'] == 1 and painted.votes.max() == 0  # counted, paints nothing


def test_cityscapes_table_maps_every_class_to_occ3d_or_ignore():
    assert len(CITYSCAPES_TO_OCC3D) == 19
    semantic = set(OCC3D_CLASS_NAMES[:NUM_SEMANTIC_CLASSES])
    assert all(name is None or name in semantic for name in CITYSCAPES_TO_OCC3D.values())
    assert [k for k, v in CITYSCAPES_TO_OCC3D.items() if v is None] == ['sky']


def test_class_table_files_name_their_errors(tmp_path):
    good = tmp_path / 'good.json'
    good.write_text(json.dumps({'classes': [{'name': 'road'}, {'name': 'grass', 'occ3d': 'terrain'},
                                            {'name': 'sky'}, {'name': 'water', 'occ3d': None}], 'fit': 'pad'}))
    table = load_class_table(good)
    assert table.occ3d_ids == (class_id('driveable_surface'), class_id('terrain'), -1, -1) and table.fit == 'pad'
    columns = table.to_columns()
    assert columns.shape == (4, NUM_SEMANTIC_CLASSES + 1) and np.all(columns.sum(axis=1) == 1)
    unknown = tmp_path / 'unknown.json'
    unknown.write_text(json.dumps({'classes': [{'name': 'lava'}]}))
    with pytest.raises(ClassTableError, match='lava'):
        load_class_table(unknown)
    wrong = tmp_path / 'wrong.json'
    wrong.write_text(json.dumps({'classes': [{'name': 'x', 'occ3d': 'road'}]}))
    with pytest.raises(ClassTableError, match="'road' is not an Occ3D class"):
        load_class_table(wrong)
    with pytest.raises(FileNotFoundError):
        load_class_table(tmp_path / 'absent.json')


def test_settings_refuse_mixing_labels_with_and_without_a_teacher(tmp_path):
    config = DenseLabelConfig()
    teacher = {'model': 'm.onnx', 'sha256': 'ab', 'settings': TeacherConfig().to_dict()}
    check_or_write_settings(tmp_path, settings_record(config, {'kind': 'x'}, teacher))
    check_or_write_settings(tmp_path, settings_record(config, {'kind': 'x'}, teacher))  # same: accepted
    with pytest.raises(ValueError, match='with teacher m.onnx'):
        check_or_write_settings(tmp_path, settings_record(config, {'kind': 'x'}))
    with pytest.raises(ValueError, match='with teacher'):
        check_or_write_settings(tmp_path, settings_record(config, {'kind': 'x'}, {**teacher, 'sha256': 'cd'}))
    plain = tmp_path / 'plain'
    check_or_write_settings(plain, settings_record(config, {'kind': 'x'}))
    with pytest.raises(ValueError, match='without a 2D teacher'):
        check_or_write_settings(plain, settings_record(config, {'kind': 'x'}, teacher))


def test_teacher_config_is_validated():
    with pytest.raises(ValueError, match='min_confidence'):
        TeacherConfig(min_confidence=1.5)
    with pytest.raises(ValueError, match='unknown TeacherConfig'):
        TeacherConfig.from_dict({'windw': 3})


def test_terrain_high_above_the_local_ground_becomes_vegetation(two_surfaces):
    from loc_core.teacher.rules import raised_terrain_to_vegetation

    x, y = np.meshgrid(np.arange(0, 20, 0.2), np.arange(-10, 10, 0.2))
    grass = np.stack([x.ravel(), y.ravel(), 0.02 * x.ravel()], axis=1)  # a gentle 2 % slope
    bush = np.stack([np.full(50, 10.0), np.linspace(-9, -8, 50), np.linspace(0.8, 1.4, 50)], axis=1)
    points = np.concatenate([grass, bush])
    painted = np.full(len(points), class_id('terrain'), np.uint8)
    ruled = raised_terrain_to_vegetation(points, painted, max_height=0.4)
    assert np.all(ruled[len(grass):] == VEGETATION_ID) and np.all(ruled[:len(grass)] == class_id('terrain'))
    frame, _, _, _, label_image = two_surfaces  # the wall painted terrain: 3 m high, so vegetation
    terrain_image = np.where(label_image == WALL, class_id('terrain'), label_image).astype(np.uint8)
    painted = PointPainter(LabelImageSegmenter(terrain_image), TeacherConfig(window=0)).paint(
        frame.points_world(), np.zeros(len(frame.points), np.int64), [frame]).labels
    assert np.isin(painted, [class_id('terrain'), TREE, UNLABELLED_ID]).all() and (painted == TREE).sum() > 1000


def test_quality_bench_scores_precision_and_recall_with_unpainted_points_as_misses():
    from bench_modules import load_bench

    bench = load_bench('teacher_quality')
    road, car = class_id('driveable_surface'), class_id('car')
    truth = np.array([road, road, road, road, car, car, UNLABELLED_ID], np.uint8)
    painted = np.array([road, road, road, UNLABELLED_ID, road, car, car], np.uint8)
    result = bench.scores(bench.confusion(truth, painted))
    assert result['classes']['driveable_surface'] == {'precision': 75.0, 'recall': 75.0, 'labelled_points': 4,
                                                      'painted_points': 4}
    assert result['classes']['car']['precision'] == 100.0 and result['classes']['car']['recall'] == 50.0
    assert result['points'] == 6 and result['painted_share'] == round(500 / 6, 1)
