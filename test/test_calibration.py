"""The rig calibration YAML round-trips and names its problems."""
import numpy as np
import pytest

from loc_core.data.calibration import (CalibrationError, CameraCalibration, RigCalibration,
                                       load_calibration, save_calibration)
from loc_core.geometry import make_transform


def test_round_trip(tmp_path):
    rig = RigCalibration('base_link', 'lidar_top', '/lidar_top/points', make_transform([1, 0, 1.8], [0.7, 0, 0, -0.7]),
                         [CameraCalibration('CAM_FRONT', 'cam_front', '/cam_front/image_rect/compressed',
                                            '/cam_front/camera_info', 1600, 900,
                                            np.array([[1266.4, 0, 816.3], [0, 1266.4, 491.5], [0, 0, 1]]),
                                            make_transform([1.7, 0, 1.5], [0.5, -0.5, 0.5, -0.5]))])
    back = load_calibration(save_calibration(tmp_path / 'calib.yaml', rig))
    np.testing.assert_allclose(back.lidar_to_base, rig.lidar_to_base, atol=1e-12)
    np.testing.assert_allclose(back.camera('CAM_FRONT').cam_to_base, rig.cameras[0].cam_to_base, atol=1e-12)
    np.testing.assert_array_equal(back.cameras[0].intrinsics, rig.cameras[0].intrinsics)


@pytest.mark.parametrize('text, problem', [
    ('lidar: {frame_id: x}', 'to_base'),
    ('[1, 2]', 'mapping'),
    ('lidar: {to_base: {translation: [0,0,0], rotation_wxyz: [1,0,0,0]}}\ncameras: [{name: c, width: 0, height: 2, '
     'K: [[1,0,0],[0,1,0],[0,0,1]], to_base: {translation: [0,0,0], rotation_wxyz: [1,0,0,0]}}]', 'positive'),
    ('lidar: {to_base: {translation: [0,0], rotation_wxyz: [1,0,0,0]}}', '3 numbers'),
    ('lidar: [unclosed', 'YAML'),
])
def test_bad_files_name_the_problem(tmp_path, text, problem):
    path = tmp_path / 'calib.yaml'
    path.write_text(text)
    with pytest.raises(CalibrationError, match=problem):
        load_calibration(path)
    with pytest.raises(CalibrationError, match='not found'):
        load_calibration(tmp_path / 'missing.yaml')
