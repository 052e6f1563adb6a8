"""One SemanticKITTI sequence prepared for the dense-label stage (`loc-gt --semantickitti`): its
Frames (camera geometry without decoding the images), moving points that cannot be kept in their own
scan dropped, and boxes from the instance ids (`instance_boxes`)."""
from __future__ import annotations

from loc_core.data.instance_boxes import attach_instance_boxes, drop_unboxed_moving
from loc_core.data.semantickitti_source import SemanticKittiSource


def semantickitti_scene(root, sequence: str, scans=None) -> tuple[list, str, dict]:
    """(frames, scene name, source record for the settings file) of one sequence."""
    source = SemanticKittiSource(root, sequence, scans=scans, load_images=False)
    frames, dropped = [], 0
    for frame in source:
        frame, count = drop_unboxed_moving(frame)
        frames.append(frame)
        dropped += count
    boxes = attach_instance_boxes(frames)
    record = {'kind': 'semantickitti', 'root': str(root), 'sequence': source.sequence,
              'lidar_height_m': round(float(source.lidar_to_ego[2, 3]), 4),
              'dropped_moving_points': dropped, 'boxes': dict(boxes), **dict(source.report)}
    return frames, source.scene_name, record
