"""Which LiDAR scan each camera image belongs to.

* 'nearest': the scan closest in time (cameras and LiDAR triggered together, any offset sign).
* 'sweep': the first scan stamped at or after the image, less a small slack for trigger jitter.
  nuScenes stamps a LiDAR scan when its rotation ends (every 50 ms) and fires each camera as the
  beam crosses that camera's field of view, so a keyframe's images fall in (-50, 0] ms before the
  scan stamp (scene-0916: -42.4 ms for CAM_FRONT_LEFT, +0.16 ms jitter for CAM_BACK_LEFT). With
  the LiDAR sweeps in the bag, 'nearest' would give the early images to the previous sweep.

An image further than `max_offset_ns` from its scan is left out (counted); two images of one
camera for one scan keep the closer one (the other counted)."""
from __future__ import annotations

from collections import Counter

import numpy as np

SYNC_POLICIES = ('nearest', 'sweep')
SWEEP_SLACK_NS = 5_000_000


def _candidates(scans: np.ndarray, images: np.ndarray, policy: str) -> np.ndarray:
    """(M,) scan index per image (may be len(scans) = none after it)."""
    if policy == 'sweep':
        return np.searchsorted(scans, images - SWEEP_SLACK_NS, side='left')
    after = np.searchsorted(scans, images)  # first scan at or after each image
    left, right = np.clip(after - 1, 0, len(scans) - 1), np.clip(after, 0, len(scans) - 1)
    return np.where(np.abs(images - scans[left]) <= np.abs(scans[right] - images), left, right)


def assign_images(scan_stamps, image_stamps: dict, policy: str, max_offset_ns: int,
                  report: Counter) -> dict[int, dict[str, int]]:
    """scan_stamps: sorted ns; image_stamps: camera name -> ns list. Returns scan index ->
    {camera name: image stamp}; counts 'images without a scan' and 'surplus images' in report."""
    if policy not in SYNC_POLICIES:
        raise ValueError(f'camera sync policy must be one of {SYNC_POLICIES}, got {policy!r}')
    scans = np.asarray(scan_stamps, dtype=np.int64)
    wanted: dict[int, dict[str, int]] = {}
    for name, stamps in image_stamps.items():
        images = np.asarray(sorted(stamps), dtype=np.int64)
        if not len(scans):
            report['images without a scan'] += len(images)
            continue
        index = _candidates(scans, images, policy)
        for image, i in zip(images.tolist(), index.tolist()):
            if i >= len(scans) or abs(int(scans[i]) - image) > max_offset_ns:
                report['images without a scan'] += 1
                continue
            current = wanted.setdefault(i, {}).get(name)
            if current is not None:
                report['surplus images'] += 1
                if abs(current - int(scans[i])) <= abs(image - int(scans[i])):
                    continue
            wanted[i][name] = image
    return wanted
