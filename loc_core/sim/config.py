"""`SimConfig`: every knob of the synthetic world, validated on construction (clear ValueError).

Units: metres, seconds, degrees for angles given by people (elevations, fields of view)."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from loc_core.data.vocabulary import OCC3D_CLASS_NAMES, THING_IDS
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.sim.novel import NOVEL_ASSETS

# Occ3D object classes that a scene may leave out (`SimConfig.disabled_classes`): 'others' and the
# thing classes; the stuff classes make up the town itself.
OPTIONAL_CLASS_NAMES = tuple(OCC3D_CLASS_NAMES[i] for i in (0, *THING_IDS))


@dataclass(frozen=True)
class LidarConfig:
    """A spinning multi-beam LiDAR (defaults: nuScenes' 32-beam Velodyne HDL-32E, mounted like its
    LIDAR_TOP: 1.84 m high, 0.94 m ahead of the rear axle, x axis pointing to the ego's right).
    `azimuth_steps` 1300 gives about 34k returns per sweep in a town, like nuScenes' sweeps."""

    beams: int = 32
    elevation_min_deg: float = -30.67
    elevation_max_deg: float = 10.67
    azimuth_steps: int = 1300
    min_range: float = 1.0
    max_range: float = 70.0
    range_noise_std: float = 0.015
    dropout_probability: float = 0.03
    mount_xyz: tuple = (0.944, 0.0, 1.84)
    mount_yaw_deg: float = -90.0

    def validate(self) -> None:
        _positive_int(self, 'beams', 'azimuth_steps')
        _non_negative(self, 'min_range', 'range_noise_std')
        _positive(self, 'max_range')
        if not -90 <= self.elevation_min_deg < self.elevation_max_deg <= 90:
            raise ValueError(f'lidar elevations must satisfy -90 <= min < max <= 90, got '
                             f'{self.elevation_min_deg}, {self.elevation_max_deg}')
        if self.min_range >= self.max_range:
            raise ValueError(f'lidar min_range {self.min_range} must be below max_range {self.max_range}')
        if not 0 <= self.dropout_probability < 1:
            raise ValueError(f'lidar dropout_probability must be in [0, 1), got {self.dropout_probability}')
        _triple(self, 'mount_xyz')


@dataclass(frozen=True)
class CameraConfig:
    """Six nuScenes-like cameras rendered at `width` x `height` pixels. `principal_y_fraction` puts
    the principal point that far down the image (0.3 shows mostly the road, like the 704x256 crops
    BEV detectors take from nuScenes' 1600x900 images); `mask_stride` subsamples pixels for
    `mask_camera`."""

    width: int = 704
    height: int = 256
    principal_y_fraction: float = 0.3
    texture_noise: float = 0.12
    mask_stride: int = 4

    def validate(self) -> None:
        _positive_int(self, 'width', 'height', 'mask_stride')
        if not 0 < self.principal_y_fraction < 1:
            raise ValueError(f'camera principal_y_fraction must be in (0, 1), got {self.principal_y_fraction}')
        _non_negative(self, 'texture_noise')


@dataclass(frozen=True)
class SimConfig:
    """The synthetic world. `frame_interval_s` between frames (0.5 s = nuScenes keyframes);
    `ego_speed_range` (min, max) m/s; densities scale how many agents/props the town gets
    (1 = default); `novel_probability` is the chance that a scene holds novel objects, and then
    `novel_count` of them drawn from `novel_objects` (asset names of `loc_core.sim.novel`);
    `disabled_classes` Occ3D object class names the town leaves out."""

    frame_interval_s: float = 0.5
    ego_speed_range: tuple = (4.0, 9.0)
    traffic_density: float = 1.0
    parked_density: float = 1.0
    pedestrian_density: float = 1.0
    prop_density: float = 1.0
    novel_probability: float = 0.5
    novel_count: int = 4
    novel_objects: tuple = tuple(NOVEL_ASSETS)
    disabled_classes: tuple = ()
    lidar: LidarConfig = field(default_factory=LidarConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    grid: VoxelGrid = field(default_factory=VoxelGrid)

    def __post_init__(self):
        object.__setattr__(self, 'novel_objects', tuple(self.novel_objects))
        object.__setattr__(self, 'disabled_classes', tuple(self.disabled_classes))
        self.validate()

    def validate(self) -> None:
        _positive(self, 'frame_interval_s')
        _non_negative(self, 'traffic_density', 'parked_density', 'pedestrian_density', 'prop_density')
        lo, hi = self.ego_speed_range
        if not 0 <= lo <= hi:
            raise ValueError(f'ego_speed_range must be (min, max) with 0 <= min <= max, got {self.ego_speed_range}')
        if not 0 <= self.novel_probability <= 1:
            raise ValueError(f'novel_probability must be in [0, 1], got {self.novel_probability}')
        if self.novel_count < 0:
            raise ValueError(f'novel_count must be non-negative, got {self.novel_count}')
        unknown = [n for n in self.novel_objects if n not in NOVEL_ASSETS]
        if unknown:
            raise ValueError(f'unknown novel object names {unknown}; known: {sorted(NOVEL_ASSETS)}')
        unknown = [n for n in self.disabled_classes if n not in OPTIONAL_CLASS_NAMES]
        if unknown:
            raise ValueError(f'unknown or non-optional class names {unknown} in disabled_classes; '
                             f'choose from {list(OPTIONAL_CLASS_NAMES)}')
        self.lidar.validate()
        self.camera.validate()

    @classmethod
    def from_dict(cls, values: dict) -> 'SimConfig':
        """Build from plain data (e.g. a YAML mapping); unknown keys are an error."""
        values = dict(values or {})
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f'unknown SimConfig keys {unknown}; known: {sorted(known)}')
        if 'lidar' in values:
            values['lidar'] = _sub(LidarConfig, values['lidar'])
        if 'camera' in values:
            values['camera'] = _sub(CameraConfig, values['camera'])
        if 'grid' in values:
            values['grid'] = VoxelGrid(**values['grid'])
        for key in ('ego_speed_range', 'novel_objects', 'disabled_classes'):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)

    def to_dict(self) -> dict:
        out = asdict(self)
        out['grid'] = {'point_range': list(self.grid.point_range), 'voxel_size': self.grid.voxel_size}
        return out


def _sub(kind, values):
    if isinstance(values, kind):
        return values
    known = {f.name for f in fields(kind)}
    unknown = sorted(set(values or {}) - known)
    if unknown:
        raise ValueError(f'unknown {kind.__name__} keys {unknown}; known: {sorted(known)}')
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in (values or {}).items()}
    obj = kind(**values)
    obj.validate()
    return obj


def _positive_int(obj, *names):
    for name in names:
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
            raise ValueError(f'{type(obj).__name__}.{name} must be a positive integer, got {value!r}')


def _positive(obj, *names):
    for name in names:
        value = getattr(obj, name)
        if not value > 0:
            raise ValueError(f'{type(obj).__name__}.{name} must be positive, got {value!r}')


def _non_negative(obj, *names):
    for name in names:
        value = getattr(obj, name)
        if not value >= 0:
            raise ValueError(f'{type(obj).__name__}.{name} must be non-negative, got {value!r}')


def _triple(obj, name):
    value = getattr(obj, name)
    if len(tuple(value)) != 3:
        raise ValueError(f'{type(obj).__name__}.{name} needs 3 numbers, got {value!r}')
