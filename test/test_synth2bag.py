"""synth2bag: the synthetic world to a bag with the same topics and calibration YAML as
nuscenes2bag, read back to the same Frames; bad arguments are clear errors."""
import numpy as np
import pytest

from loc_core.data.calibration import load_calibration
from rosbags_tools.cli import main
from rosbags_tools.reader import BagFrameSource

CAMERAS = ('CAM_FRONT', 'CAM_FRONT_RIGHT', 'CAM_BACK_RIGHT', 'CAM_BACK', 'CAM_BACK_LEFT', 'CAM_FRONT_LEFT')
SEED, FRAMES = 4, 2


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert main(['synth2bag', '--frames', '0', '--out', str(tmp_path / 'a'), '--no-progress']) == 2
    assert '--frames must be positive' in capsys.readouterr().err
    (tmp_path / 'b').mkdir()
    assert main(['synth2bag', '--frames', '1', '--out', str(tmp_path / 'b'), '--no-progress']) == 2
    assert 'exists already' in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ['b']


def test_synthetic_sequence_round_trips_through_a_bag(tmp_path, capsys):
    source_module = pytest.importorskip('loc_core.sim.source', reason='the synthetic world is not merged yet')
    out = tmp_path / 'synth'
    assert main(['synth2bag', '--seed', str(SEED), '--frames', str(FRAMES), '--out', str(out), '--no-progress']) == 0
    assert f'{FRAMES} frames' in capsys.readouterr().out
    calibration = load_calibration(out / 'calibration.yaml')
    assert [c.name for c in calibration.cameras] == list(CAMERAS)
    expected = list(source_module.SyntheticSource(SEED, FRAMES))
    got = list(BagFrameSource(out))
    assert len(got) == FRAMES
    for back, want in zip(got, expected):
        assert back.timestamp_ns == want.timestamp_ns
        assert back.points.tobytes() == want.points.tobytes()
        assert back.intensity.tobytes() == want.intensity.tobytes()
        np.testing.assert_allclose(back.ego_to_world, want.ego_to_world, atol=1e-9)
        assert back.camera_names == want.camera_names == list(CAMERAS)
        for b, w in zip(back.cameras, want.cameras):
            np.testing.assert_allclose(b.cam_to_ego, w.cam_to_ego, atol=1e-9)
            np.testing.assert_array_equal(b.intrinsics, w.intrinsics)
            assert b.image.shape == w.image.shape and np.abs(b.image.astype(int) - w.image).mean() < 6
        assert list(back.boxes.instance_ids) == list(want.boxes.instance_ids)
        np.testing.assert_allclose(back.boxes.poses, want.boxes.poses, atol=1e-9)
