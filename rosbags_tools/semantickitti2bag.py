"""SemanticKITTI sequence -> ROS 2 bag (`loc-bag semantickitti2bag`): the LiDAR, the left colour
camera `image_2` (PNG re-encoded as JPEG, quality 90) with its CameraInfo, /tf, /tf_static, /odom
and the calibration YAML, with the same topics and frames as nuscenes2bag and synth2bag, so that
`loc_node` plays it.

SemanticKITTI's times start at 0 s; the bag's stamps are shifted by `BASE_TIME_NS` (a stamp of 0
means "no time" to ROS tools). The rig (LiDAR on the ground-fitted ego frame, image_2 with P2's
offset folded in) is the loader's, the same for every scan of a sequence and the same as the dense
labels' (`loc-gt --semantickitti`) where the sequence has labels; the labels stay out of the bag."""
from __future__ import annotations

from loc_core.data.semantickitti_source import SemanticKittiSource
from rosbags_tools.output import check_destination
from rosbags_tools.synth2bag import calibration_from_frame
from rosbags_tools.writer import WriteReport, write_frames_to_bag

BASE_TIME_NS = 1_300_000_000 * 10**9  # 2011-03-13, before KITTI's recordings; any non-zero epoch does


def _shifted(source: SemanticKittiSource):
    """The source's Frames with stamps moved to BASE_TIME_NS + times.txt (labels left out: a bag
    carries what a car records)."""
    for frame in source:
        frame.timestamp_ns += BASE_TIME_NS
        for camera in frame.cameras:
            camera.timestamp_ns = frame.timestamp_ns
        frame.point_labels = frame.point_instance_ids = frame.point_moving = None
        yield frame


def semantickitti_to_bag(root, sequence: str, out, scans=None, storage: str = 'mcap', force: bool = False,
                         progress: bool = True) -> WriteReport:
    """Convert one sequence (`scans`: scan numbers, None = all). SemanticKittiError (a ValueError)
    for missing or damaged files, OutputExistsError for an existing `out` without `force`."""
    check_destination(out, force)
    source = SemanticKittiSource(root, sequence, scans=scans)  # labels, where present, fit the ground
    frames = _shifted(source)
    first = next(frames)
    calibration = calibration_from_frame(first)

    def all_frames():
        yield first
        yield from frames

    report = write_frames_to_bag(all_frames(), calibration, out, storage=storage, force=force, progress=progress,
                                 total=len(source),
                                 custom_data={'loc_bag.source': f'semantickitti {source.scene_name}',
                                              'loc_bag.camera_sync': 'nearest'},
                                 description=source.scene_name)
    report.source = {'sequence': source.sequence, 'scans': len(source),
                     'lidar height (m)': round(float(source.lidar_to_ego[2, 3]), 3)}
    return report
