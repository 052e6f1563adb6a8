"""Summarise the first keyframe of a nuScenes dataroot and write a PNG of its LiDAR points
projected into CAM_FRONT, coloured by depth. Usage:
python -m loc_core.tools.inspect_frame [--dataroot D] [--out out/inspect_frame.png]"""
import argparse
from pathlib import Path

import numpy as np

from loc_core.data.nuscenes_source import NuScenesSource
from loc_core.data.sample_data import NUSCENES_MINI_SCENE, sample_data_root
from loc_core.geometry import invert, project_to_camera


def main(argv=None):
    parser = argparse.ArgumentParser(description='Inspect one nuScenes keyframe as a loc_core Frame.')
    root = sample_data_root()
    parser.add_argument('--dataroot', default=str(root / NUSCENES_MINI_SCENE) if root else None)
    parser.add_argument('--version', default='v1.0-mini')
    parser.add_argument('--out', default='out/inspect_frame.png')
    args = parser.parse_args(argv)
    if not args.dataroot:
        parser.error('no sample data found: set LOC_SAMPLE_DATA or pass --dataroot')
    source = NuScenesSource(args.dataroot, version=args.version)
    frame = source.frame(source.sample_tokens()[0])
    print(f'scene {frame.scene}: {len(source)} keyframes; first: {len(frame.points)} LiDAR points, '
          f'{len(frame.cameras)} cameras, {len(frame.boxes)} boxes; blobs {source.blob_report()}')
    cam = frame.camera('CAM_FRONT')
    pixels, depth, visible = project_to_camera(frame.points, invert(cam.cam_to_ego) @ frame.lidar_to_ego,
                                               cam.intrinsics, cam.image_size)
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(12, 7))
    ax.imshow(cam.image)
    ax.scatter(pixels[visible, 0], pixels[visible, 1], c=np.minimum(depth[visible], 50), s=1, cmap='turbo')
    ax.set_title(f'{frame.scene} CAM_FRONT: {visible.sum()} LiDAR points (nuScenes, Motional, CC BY-NC-SA 4.0)')
    ax.axis('off')
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(args.out, dpi=80, bbox_inches='tight')
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
