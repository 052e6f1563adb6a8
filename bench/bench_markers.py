"""MarkerArray with 50k cubes: numpy CDR build + publish (what loc_node does) vs the naive rclpy
object path (Marker + geometry_msgs/Point objects, rclpy serialises), side by side. Also times the
voxel PointCloud2, the dense grid and the BEV builders. A subscriber is attached so publish() really
hands the bytes to DDS.

    python bench/bench_markers.py [--cubes 50000] [--repeats 20]
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / 'test')]  # this checkout's packages and test helpers
os.environ.setdefault('ROS_DOMAIN_ID', '60')
os.environ.setdefault('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')


def naive_marker_array(result, frame_id):
    """The obvious rclpy path: one Marker per class with a Point object per cube."""
    from geometry_msgs.msg import Point
    from visualization_msgs.msg import Marker, MarkerArray

    from loc_ros.outputs import class_colors

    colors = class_colors(result.prompts, result.class_ids)
    index = np.argwhere(result.labels != 255)
    labels = result.labels[tuple(index.T)]
    centers = result.grid.index_to_center(index)
    msg = MarkerArray()
    for label in np.unique(labels):
        m = Marker()
        m.header.frame_id = frame_id
        m.ns, m.id, m.type, m.action = str(label), int(label), Marker.CUBE_LIST, Marker.ADD
        m.pose.orientation.w = 1.0
        m.scale.x = m.scale.y = m.scale.z = 0.4
        rgb = colors[label] / 255.0 if label < len(colors) else (1.0, 0.0, 1.0)
        m.color.r, m.color.g, m.color.b, m.color.a = float(rgb[0]), float(rgb[1]), float(rgb[2]), 1.0
        m.points = [Point(x=x, y=y, z=z) for x, y, z in centers[labels == label].tolist()]
        msg.markers.append(m)
    return msg


def timed(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1e3)
    return np.percentile(times, 50), np.percentile(times, 95)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--cubes', type=int, default=50_000)
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args(argv)

    import rclpy
    from nav_msgs.msg import OccupancyGrid
    from ros_test_utils import random_result
    from sensor_msgs.msg import PointCloud2
    from std_msgs.msg import UInt8MultiArray
    from visualization_msgs.msg import MarkerArray

    from loc_core.data.vocabulary import OCC3D_PROMPTS
    from loc_ros import outputs
    from loc_ros.parameters import prompt_class_ids

    result = random_result(args.cubes, OCC3D_PROMPTS, prompt_class_ids(OCC3D_PROMPTS), seed=0)
    rclpy.init()
    node = rclpy.create_node('bench_markers')
    sink = rclpy.create_node('bench_sink')
    topics = {'markers': MarkerArray, 'voxels': PointCloud2, 'grid': UInt8MultiArray, 'bev': OccupancyGrid}
    pubs = {name: node.create_publisher(t, f'/bench/{name}', 2) for name, t in topics.items()}
    for name, t in topics.items():
        sink.create_subscription(t, f'/bench/{name}', lambda _m: None, 2)
    while not all(p.get_subscription_count() for p in pubs.values()):
        time.sleep(0.05)

    rows = [
        ('MarkerArray, numpy CDR build + publish (loc_node)',
         lambda: pubs['markers'].publish(outputs.marker_array(result, 'base_link', False))),
        ('MarkerArray, naive rclpy objects build + publish',
         lambda: pubs['markers'].publish(naive_marker_array(result, 'base_link'))),
        ('voxels PointCloud2, numpy CDR build + publish',
         lambda: pubs['voxels'].publish(outputs.voxel_cloud(result, 'base_link'))),
        ('grid UInt8MultiArray 200x200x16, build + publish',
         lambda: pubs['grid'].publish(outputs.semantic_grid(result))),
        ('bev OccupancyGrid 200x200, build + publish',
         lambda: pubs['bev'].publish(outputs.bev_grid(result, 'base_link'))),
    ]
    print(f'{args.cubes} occupied voxels, {len(OCC3D_PROMPTS)} classes + unknown, {args.repeats} repeats')
    for label, fn in rows:
        repeats = max(3, args.repeats // 4) if 'naive' in label else args.repeats
        p50, p95 = timed(fn, repeats)
        print(f'| {label} | p50 {p50:.1f} ms, p95 {p95:.1f} ms |')
    node.destroy_node()
    sink.destroy_node()
    rclpy.try_shutdown()


if __name__ == '__main__':
    main()
