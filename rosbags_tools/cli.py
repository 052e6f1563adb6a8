"""`loc-bag`: nuScenes / synthetic / SemanticKITTI sequences to ROS 2 bags, playback with rclpy, bags to Frames.

    loc-bag nuscenes2bag --dataroot D --version V --scene NAME --out PATH [--sweeps] [--storage sqlite3] [--force]
    loc-bag synth2bag --seed S --frames N --out PATH [--storage sqlite3] [--force]
    loc-bag semantickitti2bag DIR --sequence 07 --out PATH [--scans 0,3] [--storage sqlite3] [--force]
    loc-bag play BAG [--rate R] [--loop] [--topics T ...] [--clock [HZ]] [--start-offset S] [--stop-offset S]
    loc-bag frames BAG [--calibration YAML] [--camera-sync nearest|sweep] [--no-images]

Exit status 0 on success, 2 with a one-line error for bad input (missing or damaged files, wrong
names, an existing output without --force)."""
from __future__ import annotations

import argparse
import logging
import sys

from loc_core.data.calibration import CalibrationError
from rosbags_tools.bag_access import BagError
from rosbags_tools.camera_sync import SYNC_POLICIES
from rosbags_tools.conventions import STORAGES
from rosbags_tools.output import OutputExistsError
from rosbags_tools.player import DEFAULT_CLOCK_HZ
from rosbags_tools.pointcloud import PointCloudError

EXPECTED_ERRORS = (BagError, CalibrationError, OutputExistsError, FileNotFoundError, PointCloudError,
                   ImportError, ValueError, KeyError)


def _add_output_options(parser):
    parser.add_argument('--out', required=True, help='bag folder to create')
    parser.add_argument('--storage', choices=STORAGES, default='mcap')
    parser.add_argument('--force', action='store_true', help='replace an existing --out')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog='loc-bag', description=__doc__.split('\n')[0])
    sub = parser.add_subparsers(dest='command', required=True)

    p = sub.add_parser('nuscenes2bag', help='one nuScenes scene -> one ROS 2 bag')
    p.add_argument('--dataroot', required=True)
    p.add_argument('--version', default='v1.0-mini')
    p.add_argument('--scene', default=None, help='scene name, e.g. scene-0916 (optional if only one)')
    p.add_argument('--sweeps', action='store_true', help='also the LiDAR sweeps between keyframes')
    _add_output_options(p)

    p = sub.add_parser('synth2bag', help='a synthetic-world sequence -> one ROS 2 bag')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--frames', type=int, required=True)
    _add_output_options(p)

    p = sub.add_parser('semantickitti2bag', help='one SemanticKITTI sequence -> one ROS 2 bag')
    p.add_argument('root', help='SemanticKITTI root (holding sequences/XX/)')
    p.add_argument('--sequence', required=True, help='e.g. 07')
    p.add_argument('--scans', default=None, help='scan numbers separated by commas (default: every scan)')
    _add_output_options(p)

    p = sub.add_parser('play', help='publish a bag into the live ROS graph (rclpy, raw CDR)')
    p.add_argument('bag')
    p.add_argument('--rate', type=float, default=1.0, help='playback speed factor (1 = real time)')
    p.add_argument('--loop', action='store_true')
    p.add_argument('--topics', nargs='+', default=None, help='only these topics')
    p.add_argument('--clock', type=float, nargs='?', const=DEFAULT_CLOCK_HZ, default=0.0, metavar='HZ',
                   help='publish the playback time on /clock at HZ (default %(const)s) for nodes with use_sim_time')
    p.add_argument('--start-offset', type=float, default=0.0, metavar='SECONDS',
                   help='skip the messages logged in the first SECONDS of the bag')
    p.add_argument('--stop-offset', type=float, default=None, metavar='SECONDS',
                   help='stop before the messages logged SECONDS or more after the bag start')
    p.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='SECONDS',
                   help='before playing, wait up to this long for every topic to have a subscriber')

    p = sub.add_parser('frames', help='read a bag back as Frames and summarise them')
    p.add_argument('bag')
    p.add_argument('--calibration', default=None, help='rig calibration YAML (default: the one in the bag)')
    p.add_argument('--camera-sync', choices=SYNC_POLICIES, default=None)
    p.add_argument('--max-camera-offset-ms', type=float, default=100.0)
    p.add_argument('--odom-topic', default='/odom', help='odometry of the base frame, used when /tf has none')
    p.add_argument('--no-images', action='store_true', help='do not decode JPEGs')
    return parser


def _nuscenes2bag(args) -> int:
    from rosbags_tools.nuscenes2bag import nuscenes_to_bag

    report = nuscenes_to_bag(args.dataroot, args.version, args.scene, args.out, storage=args.storage,
                             with_sweeps=args.sweeps, force=args.force, progress=not args.no_progress)
    print(report.summary())
    return 0


def _synth2bag(args) -> int:
    from rosbags_tools.synth2bag import synthetic_to_bag

    report = synthetic_to_bag(args.seed, args.frames, args.out, storage=args.storage, force=args.force,
                              progress=not args.no_progress)
    print(report.summary())
    return 0


def _semantickitti2bag(args) -> int:
    from rosbags_tools.semantickitti2bag import semantickitti_to_bag

    scans = None if args.scans is None else [int(s) for s in args.scans.split(',') if s.strip()]
    report = semantickitti_to_bag(args.root, args.sequence, args.out, scans=scans, storage=args.storage,
                                  force=args.force, progress=not args.no_progress)
    print(report.summary())
    return 0


def _play(args) -> int:
    from rosbags_tools.player import BagPlayer

    player = BagPlayer(args.bag, rate=args.rate, loop=args.loop, topics=args.topics,
                       wait_for_subscribers_s=args.wait_for_subscribers, clock=args.clock,
                       start_offset_s=args.start_offset, stop_offset_s=args.stop_offset)
    print(player.play().summary())
    return 0


def _frames(args) -> int:
    from rosbags_tools.reader import BagFrameSource

    source = BagFrameSource(args.bag, calibration=args.calibration, camera_sync=args.camera_sync,
                            max_camera_offset_ms=args.max_camera_offset_ms, decode_images=not args.no_images,
                            odom_topic=args.odom_topic)
    count = 0
    for frame in source:
        boxes = len(frame.boxes) if frame.boxes is not None else 0
        print(f'{frame.timestamp_ns} points={len(frame.points)} cameras={len(frame.cameras)} boxes={boxes}')
        count += 1
    print(f'{count} frames from {args.bag}' + (f'; left out {dict(source.report)}' if source.report else ''))
    if not count:
        print(f'loc-bag frames: error: no usable LiDAR scan in {args.bag}', file=sys.stderr)
    return 0 if count else 2


COMMANDS = {'nuscenes2bag': _nuscenes2bag, 'synth2bag': _synth2bag, 'semantickitti2bag': _semantickitti2bag,
            'play': _play, 'frames': _frames}


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='%(levelname)s %(name)s: %(message)s')
    try:
        return COMMANDS[args.command](args)
    except EXPECTED_ERRORS as exc:
        print(f'loc-bag {args.command}: error: {exc}', file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # outputs are all-or-nothing, so nothing partial is left
        print(f'loc-bag {args.command}: interrupted', file=sys.stderr)
        return 130


if __name__ == '__main__':
    sys.exit(main())
