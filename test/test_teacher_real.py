"""The 2D teacher with the real ONNX segmenter on real nuScenes keyframes (scene-0916): the class
table against the model, painting one keyframe, `loc-gt --teacher` labels, and bad models."""
import os

import numpy as np
import pytest

from loc_core.data.occ3d_io import OCC3D_SHAPE, validate_arrays
from loc_core.data.sample_data import CITYSCAPES_TEACHER, models_root
from loc_core.data.vocabulary import FREE_ID, STUFF_IDS, UNLABELLED_ID, class_id
from loc_core.gt import cli
from loc_core.gt.fusion import box_membership
from loc_core.gt.pipeline import DenseLabelPipeline
from loc_core.teacher.painting import PointPainter
from loc_core.teacher.segmenter import OnnxSegmenter, TeacherModelError

pytestmark = pytest.mark.sample_data
NUSCENES_MODEL = 'espnetv2_s2.0_cityscapes_576x1024.onnx'


@pytest.fixture(scope='module')
def teacher_folder():
    root = models_root()
    folder = root / CITYSCAPES_TEACHER if root else None
    if folder is None or not (folder / NUSCENES_MODEL).is_file():
        message = 'teacher model not found (set LOC_MODELS or place ../shared/models)'
        if os.environ.get('LOC_REQUIRE_SAMPLE_DATA') == '1':
            pytest.fail(message)
        pytest.skip(message)
    return folder


@pytest.fixture(scope='module')
def painter(teacher_folder):
    return PointPainter(OnnxSegmenter(teacher_folder / NUSCENES_MODEL))


@pytest.fixture(scope='module')
def two_keyframes(nuscenes_dataroot):
    from loc_core.data.nuscenes_source import NuScenesSource

    source = NuScenesSource(nuscenes_dataroot, version='v1.0-mini', load_images=False)  # images from the JPEGs
    return [source.frame(token) for token in source.sample_tokens()[:2]]


def test_class_table_covers_every_trained_channel_of_the_model(painter):
    segmenter = painter.segmenter
    assert segmenter.input_size == (1024, 576)
    assert segmenter.table.num_trained == 19 and segmenter.session.get_outputs()[0].shape[1] == 20
    ids = segmenter.table.occ3d_ids
    assert all(-1 <= i < 17 for i in ids) and ids.count(-1) == 1  # only sky is ignored
    assert ids[0] == class_id('driveable_surface') and ids[13] == class_id('car')


def test_painting_a_real_keyframe_puts_the_road_below_the_ego_on_driveable_surface(painter, two_keyframes):
    frame = two_keyframes[0]
    points = frame.points_world()
    painted = painter.paint(points, np.zeros(len(points), np.int64), two_keyframes[:1])
    assert painter.images_segmented == 6
    ego = frame.points_ego()
    ground = (np.abs(ego[:, 0]) < 10) & (np.abs(ego[:, 1]) < 10) & (ego[:, 2] < 0.3) & (painted.votes > 0)
    assert ground.sum() > 1000
    assert np.mean(painted.labels[ground] == class_id('driveable_surface')) > 0.6
    assert painted.stats['painted_points'] > 0.4 * len(points)
    high = (ego[:, 2] > 2.5) & (painted.labels != UNLABELLED_ID)  # above cars: buildings, trees, poles
    assert np.isin(painted.labels[high], [class_id('manmade'), class_id('vegetation')]).mean() > 0.7


def test_dense_labels_with_the_teacher_give_stuff_classes_and_keep_box_classes(painter, two_keyframes):
    pipeline = DenseLabelPipeline(painter=painter)
    results = list(pipeline.run(two_keyframes))
    assert painter.images_segmented == 12  # keyframe 0's six images came from the cache
    car = class_id('car')
    for frame, result in zip(two_keyframes, results):
        semantics = result.labels.semantics
        validate_arrays(result.labels.as_dict(), shape=OCC3D_SHAPE)
        occupied = semantics[semantics != FREE_ID]
        assert np.mean(occupied != UNLABELLED_ID) > 0.8
        assert {class_id('driveable_surface'), class_id('manmade')} <= set(np.unique(occupied).tolist())
        assert np.isin(occupied, STUFF_IDS).mean() > 0.3
        cars = frame.boxes.subset(frame.boxes.class_ids == car)
        index = np.argwhere(semantics != FREE_ID)
        inside = box_membership(cars, pipeline.grid.index_to_center(index), 0.0) >= 0
        assert inside.sum() > 100 and np.mean(semantics[tuple(index[inside].T)] == car) > 0.9


def test_bad_teacher_models_give_clear_errors(teacher_folder, tmp_path, capsys):
    with pytest.raises(FileNotFoundError, match='not found'):
        OnnxSegmenter(tmp_path / 'absent.onnx')
    corrupt = tmp_path / 'corrupt.onnx'
    corrupt.write_bytes((teacher_folder / NUSCENES_MODEL).read_bytes()[:5000])
    (tmp_path / 'classes.json').write_bytes((teacher_folder / 'classes.json').read_bytes())
    with pytest.raises(TeacherModelError, match='not a loadable ONNX model'):
        OnnxSegmenter(corrupt)
    code = cli.main(['--synthetic', '--frames', '2', '--out', str(tmp_path / 'out'), '--teacher',
                     str(tmp_path / 'missing.onnx')])
    assert code == 2 and 'missing.onnx not found' in capsys.readouterr().err
