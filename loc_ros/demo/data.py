"""The demo's input: a bag (cached between runs) and, for each LiDAR stamp, the Frame it came from
(ground truth and camera images for scoring and pictures)."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from loc_core.data.frame import Frame


@dataclass
class DemoData:
    """`bag` folder (calibration.yaml inside); `frame_at(stamp_ns)` rebuilds the source Frame."""

    name: str
    bag: Path
    frame_count: int
    frame_at: object  # callable: stamp_ns -> Frame
    has_ground_truth: bool

    @property
    def calibration(self) -> Path:
        return self.bag / 'calibration.yaml'

    @property
    def lidar_topic(self) -> str:
        from loc_core.data.calibration import load_calibration

        return load_calibration(self.calibration).lidar_topic

    @property
    def sensor_topics(self) -> list[str]:
        """The topics loc_node takes: the LiDAR, and each camera's images and camera info."""
        from loc_core.data.calibration import load_calibration

        rig = load_calibration(self.calibration)
        return [rig.lidar_topic] + [t for cam in rig.cameras for t in (cam.image_topic, cam.info_topic)]


def synthetic_data(seed: int, frames: int, cache: Path, progress=print) -> DemoData:
    """A synthetic sequence as a bag in `cache` (written once, reused by later runs)."""
    from loc_core.sim.source import BASE_TIME_NS, SyntheticSource
    from rosbags_tools.synth2bag import synthetic_to_bag

    source = SyntheticSource(seed=seed, num_frames=frames)
    bag = cache / f'synth-s{seed}-n{frames}'
    if bag.is_dir():
        progress(f'[demo] using the cached bag {bag}')
    else:
        progress(f'[demo] generating {frames} synthetic frames (seed {seed}) into a bag ...')
        synthetic_to_bag(seed, frames, bag)
    period_ns = source.config.frame_interval_s * 1e9

    def frame_at(stamp_ns: int) -> Frame:
        return source.frame(int(round((stamp_ns - BASE_TIME_NS) / period_ns)))

    return DemoData(f'synthetic town, seed {seed}', bag, frames, frame_at, has_ground_truth=True)


def nuscenes_data(dataroot, version: str, scene: str | None, cache: Path, progress=print) -> DemoData:
    """A nuScenes scene's keyframes as a bag in `cache` (written once). No dense ground truth."""
    from loc_core.data.nuscenes_source import NuScenesSource
    from rosbags_tools.nuscenes2bag import nuscenes_to_bag

    source = NuScenesSource(dataroot, version=version, scene=scene)
    bag = cache / f'nuscenes-{source.scene_name}'
    if bag.is_dir():
        progress(f'[demo] using the cached bag {bag}')
    else:
        progress(f'[demo] converting nuScenes {source.scene_name} into a bag ...')
        nuscenes_to_bag(dataroot, version, source.scene_name, bag, nusc=source.nusc)
    tokens = source.sample_tokens()
    by_stamp = {int(source.nusc.get('sample_data', source.nusc.get('sample', t)['data']['LIDAR_TOP'])['timestamp'])
                * 1000: t for t in tokens}

    def frame_at(stamp_ns: int) -> Frame:
        return source.frame(by_stamp[stamp_ns])

    return DemoData(f'nuScenes {source.scene_name} (Motional, CC BY-NC-SA 4.0)', bag, len(tokens), frame_at,
                    has_ground_truth=False)
