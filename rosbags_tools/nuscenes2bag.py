"""nuScenes scene -> ROS 2 bag (`loc-bag nuscenes2bag`).

Frames come from `NuScenesSource` without decoding images (the JPEG bytes are passed through);
the rig calibration is the scene's devkit `calibrated_sensor` records. Missing blobs are
counted (keyframes whose LiDAR blob is missing or corrupt are skipped by the source) and the
scene's full blob inventory goes into the report."""
from __future__ import annotations

from loc_core.data.calibration import CameraCalibration, RigCalibration
from loc_core.data.nuscenes_source import CAMERA_NAMES, LIDAR_NAME, NuScenesSource
from loc_core.geometry.transforms import make_transform
from rosbags_tools import conventions as C
from rosbags_tools.output import check_destination
from rosbags_tools.writer import WriteReport, write_frames_to_bag


def nuscenes_calibration(source: NuScenesSource) -> RigCalibration:
    """The rig of the source's scene from its first keyframe's calibrated_sensor records."""
    nusc = source.nusc
    sample = nusc.get('sample', source.sample_tokens()[0])

    def mount(channel):
        sd = nusc.get('sample_data', sample['data'][channel])
        calib = nusc.get('calibrated_sensor', sd['calibrated_sensor_token'])
        return sd, calib, make_transform(calib['translation'], calib['rotation'])

    _, _, lidar_to_base = mount(LIDAR_NAME)
    cameras = []
    for name in CAMERA_NAMES:
        if name not in sample['data']:
            continue
        sd, calib, cam_to_base = mount(name)
        cameras.append(CameraCalibration(
            name=name, frame_id=C.camera_frame(name), image_topic=C.camera_image_topic(name),
            info_topic=C.camera_info_topic(name), width=int(sd['width']), height=int(sd['height']),
            intrinsics=calib['camera_intrinsic'], cam_to_base=cam_to_base))
    return RigCalibration(base_frame=C.BASE_FRAME, lidar_frame=C.LIDAR_FRAME, lidar_topic=C.LIDAR_TOPIC,
                          lidar_to_base=lidar_to_base, cameras=cameras)


def nuscenes_to_bag(dataroot, version: str, scene: str | None, out, storage: str = 'mcap',
                    with_sweeps: bool = False, force: bool = False, progress: bool = True,
                    nusc=None) -> WriteReport:
    """Convert one scene. FileNotFoundError for a wrong dataroot/version, ValueError for an
    unknown scene, OutputExistsError for an existing `out` without `force`."""
    check_destination(out, force)  # fail before the slow table load
    source = NuScenesSource(dataroot, version=version, scene=scene, with_sweeps=with_sweeps,
                            load_images=False, nusc=nusc)
    report = write_frames_to_bag(
        source, nuscenes_calibration(source), out, storage=storage, force=force, progress=progress,
        total=None if with_sweeps else len(source),
        custom_data={'loc_bag.source': f'nuscenes {version} {source.scene_name}',
                     'loc_bag.camera_sync': 'sweep'},
        description=source.scene_name)
    inventory = source.blob_report()
    report.source = {'scene': source.scene_name,
                     'skipped while converting': dict(source.report),
                     'blobs on disk': f"{inventory['total'] - inventory['missing']} of {inventory['total']}",
                     'missing keyframe blobs': inventory['missing_keyframes'],
                     'missing sweep blobs': inventory['missing_sweeps'],
                     'missing by channel': inventory['missing_by_channel']}
    return report
