"""SimConfig rejects invalid settings with a clear ValueError; SyntheticSource checks its arguments."""
import pytest

from loc_core.sim import SimConfig, SyntheticSource
from loc_core.sim.config import CameraConfig, LidarConfig


@pytest.mark.parametrize('values, message', [
    ({'lidar': {'beams': 0}}, 'beams must be a positive integer'),
    ({'lidar': {'azimuth_steps': -5}}, 'azimuth_steps must be a positive integer'),
    ({'lidar': {'max_range': -1.0}}, 'max_range must be positive'),
    ({'lidar': {'range_noise_std': -0.1}}, 'range_noise_std must be non-negative'),
    ({'lidar': {'elevation_min_deg': 20.0, 'elevation_max_deg': 10.0}}, 'elevations'),
    ({'lidar': {'dropout_probability': 1.5}}, 'dropout_probability'),
    ({'camera': {'width': 0}}, 'width must be a positive integer'),
    ({'camera': {'height': -256}}, 'height must be a positive integer'),
    ({'frame_interval_s': -0.5}, 'frame_interval_s must be positive'),
    ({'traffic_density': -1.0}, 'traffic_density must be non-negative'),
    ({'ego_speed_range': (5.0, 2.0)}, 'ego_speed_range'),
    ({'disabled_classes': ['spaceship']}, "unknown or non-optional class names ['spaceship']"),
    ({'disabled_classes': ['driveable_surface']}, 'non-optional'),
    ({'novel_objects': ['unicorn']}, "unknown novel object names ['unicorn']"),
    ({'novel_probability': 2.0}, 'novel_probability'),
    ({'colour': 'red'}, "unknown SimConfig keys ['colour']"),
    ({'lidar': {'beam_count': 32}}, "unknown LidarConfig keys ['beam_count']"),
    ({'grid': {'point_range': [0, 0, 0, 1, 1, 1], 'voxel_size': -0.4}}, 'voxel_size must be positive'),
])
def test_invalid_config_is_a_clear_error(values, message):
    with pytest.raises(ValueError, match=message.replace('[', r'\[').replace(']', r'\]')):
        SimConfig.from_dict(values)


def test_direct_construction_validates_too():
    with pytest.raises(ValueError, match='beams'):
        SimConfig(lidar=LidarConfig(beams=0))
    with pytest.raises(ValueError, match='mask_stride'):
        SimConfig(camera=CameraConfig(mask_stride=0))


def test_round_trip_and_disabled_classes():
    config = SimConfig.from_dict({'lidar': {'beams': 16}, 'camera': {'width': 352, 'height': 128},
                                  'disabled_classes': ['bus', 'trailer'], 'novel_objects': ['dog']})
    again = SimConfig.from_dict(config.to_dict())
    assert again == config
    assert again.lidar.beams == 16 and again.camera.width == 352


@pytest.mark.parametrize('seed, frames', [(-1, 5), (1.5, 5), ('3', 5), (1, 0), (1, -3)])
def test_source_rejects_bad_arguments(seed, frames):
    with pytest.raises(ValueError):
        SyntheticSource(seed, frames)
