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
    Measured against scene-0916 with bench/sensor_stats.py: its beam elevations are -30.66..+10.66
    deg, 1.333 deg apart (as here); every ring has exactly 1085 firings per sweep (34720 points).
    `ego_roof` (z, centre x, centre y, radius, metres, ego frame; None = off) is a disc of the ego's
    roof that the low beams hit, like nuScenes' LIDAR_TOP; those returns get label 255 (as
    nuScenes' lidarseg 'vehicle.ego', which the project maps to 255) and intensity about
    `ego_roof_intensity`. Intensities are `intensity_scale` x the physical model times a log-normal
    factor of `intensity_log_sigma`."""

    beams: int = 32
    elevation_min_deg: float = -30.67
    elevation_max_deg: float = 10.67
    # nuScenes: 1085 firings per ring (was 1300, which gave 33.5k scene returns against nuScenes'
    # ~27.8k scene returns plus ~6.9k ego/near returns per sweep)
    azimuth_steps: int = 1085
    min_range: float = 1.0
    max_range: float = 70.0
    range_noise_std: float = 0.015
    dropout_probability: float = 0.03
    mount_xyz: tuple = (0.944, 0.0, 1.84)
    mount_yaw_deg: float = -90.0
    # scene-0916: ~3.9k returns per sweep at 0.3-1.3 m range, ego z 1.46-1.57 m, on 69 % of ring 0's
    # firings falling to 4 % of ring 8's, none above; a flat disc of radius 0.7 m at z 1.50 m centred
    # 0.75 m ahead of the rear axle reproduces that per-ring profile (0.69, 0.62, ..., 0.14, 0)
    ego_roof: tuple | None = (1.50, 0.75, 0.0, 0.70)
    ego_roof_intensity: float = 23.0  # median intensity of those real roof returns (p5 4, p95 87)
    # scene-0916 intensity p5/p25/p50/p75/p95 = 2/8/16/31/75 (scene returns 4/11/17/37/80); the
    # physical model alone gave 14/20/28/59/111 (too bright, too narrow): 0.55 x it with a
    # log-normal factor of sigma 0.7 gives 4/9/17/35/97
    intensity_scale: float = 0.55
    intensity_log_sigma: float = 0.7

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
        _non_negative(self, 'ego_roof_intensity', 'intensity_scale', 'intensity_log_sigma')
        if self.ego_roof is not None and (len(tuple(self.ego_roof)) != 4 or not self.ego_roof[3] >= 0):
            raise ValueError(f'lidar ego_roof must be None or (z, centre x, centre y, radius >= 0), '
                             f'got {self.ego_roof!r}')


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
    # colours are pulled towards their grey by this factor (1 = unchanged). scene-0916's images after
    # the network's 352x128 resize have mean HSV saturation 0.073 (an overcast, grey town) against
    # 0.228 here at 1; 0.35 gives 0.083 (the preset loc_core/sim/presets/nuscenes_look.yaml, which
    # the real-sensor checkpoint trains on). The default stays 1: the synthetic demo checkpoint
    # reads colour, and loses 10 mIoU points on grey towns (docs/benchmarks-history.md, "Real data")
    saturation: float = 1.0

    def validate(self) -> None:
        _positive_int(self, 'width', 'height', 'mask_stride')
        if not 0 < self.principal_y_fraction < 1:
            raise ValueError(f'camera principal_y_fraction must be in (0, 1), got {self.principal_y_fraction}')
        _non_negative(self, 'texture_noise', 'saturation')


@dataclass(frozen=True)
class SimConfig:
    """The synthetic world. `frame_interval_s` between frames (0.5 s = nuScenes keyframes);
    `ego_speed_range` (min, max) m/s; densities scale how many agents/props the town gets
    (1 = default); `novel_probability` is the chance that a scene holds novel objects, and then
    `novel_count` of them drawn from the first five kinds (`SCENE_NOVEL_ASSETS`) among
    `novel_objects` (asset names of `loc_core.sim.novel`); `novel_extra_count` more novel objects of
    any kind in `novel_objects` stand in every scene, drawn from their own random stream so that
    the rest of the town is the same as without them (0 by default: towns, and so training data,
    stay as they were; `presets/open_set.yaml` sets 12); `disabled_classes` Occ3D object class
    names the town leaves out."""

    frame_interval_s: float = 0.5
    ego_speed_range: tuple = (4.0, 9.0)
    traffic_density: float = 1.0
    parked_density: float = 1.0
    pedestrian_density: float = 1.0
    prop_density: float = 1.0
    novel_probability: float = 0.5
    novel_count: int = 4
    novel_objects: tuple = tuple(NOVEL_ASSETS)
    novel_extra_count: int = 0
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
        if isinstance(self.novel_extra_count, bool) or not isinstance(self.novel_extra_count, int) \
                or self.novel_extra_count < 0:
            raise ValueError(f'novel_extra_count must be a non-negative integer, got {self.novel_extra_count!r}')
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
