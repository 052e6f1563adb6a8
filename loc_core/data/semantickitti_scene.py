"""SemanticKITTI sequences prepared for the dense-label stage (`loc-gt --semantickitti`).

A whole sequence does not fit in memory (sequence 00: 4,541 scans of 120k points), so a sequence is
labelled in chunks (`semantickitti_jobs`): each job labels `chunk` consecutive scans and fuses
`context` more on each side (frames with `is_keyframe=False`). A sequence no longer than one chunk
is one job without context (the shared sample's four scans). Per job: the Frames (camera geometry
without decoding the images), moving points that cannot be kept in their own scan dropped, and boxes
from the instance ids (`instance_boxes`)."""
from __future__ import annotations

import logging

from loc_core.data.instance_boxes import attach_instance_boxes, drop_unboxed_moving
from loc_core.data.semantickitti_files import scan_numbers, sequence_dir
from loc_core.data.semantickitti_source import SemanticKittiSource, parse_sequences

LOG = logging.getLogger(__name__)


def semantickitti_jobs(root, sequences: str, chunk: int = 50, context: int = 5) -> list[dict]:
    """`loc-gt` jobs (small dicts) for `sequences` ('00,01', '00-07', 'all'): per sequence, its scans
    in chunks of `chunk` keyframes, each with up to `context` scans on either side."""
    if chunk < 1 or context < 0:
        raise ValueError(f'--chunk-scans must be >= 1 and --context-scans >= 0, got {chunk} and {context}')
    jobs = []
    for name in parse_sequences(sequences, root):
        scans = scan_numbers(sequence_dir(root, name))
        if len(scans) <= chunk:
            jobs.append({'kind': 'semantickitti', 'root': str(root), 'sequence': name, 'scans': None,
                         'keyframes': scans})
            continue
        for start in range(0, len(scans), chunk):
            jobs.append({'kind': 'semantickitti', 'root': str(root), 'sequence': name,
                         'scans': scans[max(0, start - context):start + chunk + context],
                         'keyframes': scans[start:start + chunk]})
    return jobs


def semantickitti_scene(root, sequence: str, scans=None, keyframes=None,
                        load_images: bool = False) -> tuple[list, str, dict]:
    """(frames, scene name, source record for the settings file) of `scans` of one sequence (None:
    all), of which `keyframes` (None: all) are labelled and the others only fused. `load_images`
    decodes image_2 (for a 2D teacher), else the camera carries a black image of the right size."""
    source = SemanticKittiSource(root, sequence, scans=scans, load_images=load_images)
    chosen = None if keyframes is None else {int(k) for k in keyframes}
    frames, dropped = [], 0
    for scan, frame in zip(source.scans, source):
        frame, count = drop_unboxed_moving(frame)
        frame.is_keyframe = chosen is None or scan in chosen
        frames.append(frame)
        dropped += count
    boxes = attach_instance_boxes(frames)
    LOG.info('%s scans %s-%s: %d moving points without a box dropped; boxes %s', source.scene_name,
             source.scans[0], source.scans[-1], dropped, dict(boxes))
    record = {'kind': 'semantickitti', 'root': str(root), 'sequence': source.sequence,
              'lidar_height_m': round(float(source.lidar_to_ego[2, 3]), 4)}
    return frames, source.scene_name, record
