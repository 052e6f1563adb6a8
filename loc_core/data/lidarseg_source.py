"""`LidarsegSequenceSource`: Frames from the shared 11-frame nuScenes-lidarseg sequence
(`frames.json` + `frame_XX.npz`, no images). Labels are mapped to Occ3D ids with the file's
0 (noise) becoming 255 (unlabelled); boxes move from the LiDAR frame to the ego frame."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from loc_core.data.boxes import Boxes
from loc_core.data.frame import Frame
from loc_core.data.vocabulary import UNLABELLED_ID
from loc_core.geometry.transforms import make_transform


class LidarsegSequenceSource:
    def __init__(self, folder):
        self.folder = Path(folder)
        index = self.folder / 'frames.json'
        if not index.is_file():
            raise FileNotFoundError(f'no frames.json in {self.folder}')
        self.entries = json.loads(index.read_text())['frames']

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self):
        for i in range(len(self.entries)):
            yield self[i]

    def __getitem__(self, i: int) -> Frame:
        entry = self.entries[i]
        with np.load(self.folder / entry['file'], allow_pickle=False) as data:
            cloud, labels = data['points'], data['labels']
            boxes, box_labels, tokens = data['boxes'], data['box_labels'], data['box_tokens']
        lidar_to_ego = make_transform(entry['lidar_to_ego']['translation'], entry['lidar_to_ego']['rotation_wxyz'])
        ego_to_world = make_transform(entry['ego_pose']['translation'], entry['ego_pose']['rotation_wxyz'])
        point_labels = labels.astype(np.uint8).copy()
        point_labels[point_labels == 0] = UNLABELLED_ID
        boxes_lidar = Boxes.from_xyzwlhyaw(boxes, box_labels, tokens)
        return Frame(
            timestamp_ns=int(entry['timestamp_us']) * 1000, points=cloud[:, :3], intensity=cloud[:, 3],
            lidar_to_ego=lidar_to_ego, ego_to_world=ego_to_world, point_labels=point_labels,
            boxes=boxes_lidar.transformed(lidar_to_ego), scene='lidarseg-11frames',
            token=Path(entry['file']).stem,
        )
