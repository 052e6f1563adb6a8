"""The node's outputs built from one `OccupancyResult` (frame = the result's ego frame, the node's
`base_frame`). Big messages come back as serialised CDR bytes (see `cdr.py`), ready for
`Publisher.publish(bytes)`.

Message choices:
* markers: visualization_msgs/MarkerArray, one CUBE_LIST per prompt (namespace = prompt text, id =
  prompt index) in the class colour, of the surface voxels only (occupied with a free or out-of-grid
  face neighbour: a voxel enclosed on all six faces cannot be seen, and dropping them cuts the bytes
  RViz has to take; ~/voxels and ~/grid keep every voxel), unknown voxels in namespace 'unknown' (id 254); prompts without
  voxels in this frame get a DELETE; a DELETEALL leads the array whenever the prompt set changed.
* voxels: sensor_msgs/PointCloud2 of occupied voxel centres, fields x y z (float32, metres), score
  (float32 best cosine similarity), rgb (float32-packed 0x00RRGGBB, RViz's RGB8 convention) and
  label (uint8 prompt index, 254 unknown).
* grid: std_msgs/UInt8MultiArray holding `labels` (X,Y,Z) in C order, layout dims 'x', 'y', 'z'
  with sizes and strides; values are prompt indices, 254 unknown, 255 free. The message has no
  header: its geometry (range, voxel size, frame) travels in the legend JSON and its stamp equals
  that of the voxels and markers published for the same frame.
* bev: nav_msgs/OccupancyGrid, one cell per voxel column, 100 where the column holds an occupied
  voxel of a non-ground class (unknown counts as an obstacle), 0 elsewhere.
* legend: std_msgs/String JSON (see `legend_json`), latched.
"""
from __future__ import annotations

import json

import numpy as np

from loc_core.data.vocabulary import UNKNOWN_COLOR
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL, OccupancyResult
from loc_core.viz.palette import prompt_color
from loc_ros import cdr

GROUND_CLASS_IDS = (11, 12, 13, 14)  # driveable_surface, other_flat, sidewalk, terrain
BEV_OBSTACLE, BEV_CLEAR = 100, 0
UNKNOWN_NAMESPACE = 'unknown'


def class_colors(prompts, class_ids) -> np.ndarray:
    """(P,3) uint8 RGB per prompt: the Occ3D colour when the prompt stands for an Occ3D class, otherwise
    a colour derived from the prompt's text, so a class keeps its colour when the prompt set changes."""
    ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    return np.array([prompt_color(p, int(ids[i]) if i < len(ids) else -1) for i, p in enumerate(prompts)],
                    dtype=np.uint8).reshape(-1, 3)


def _occupied(result: OccupancyResult) -> tuple[np.ndarray, np.ndarray]:
    """(M,3) int64 indices and (M,) uint8 labels of occupied voxels, C order."""
    flat_labels = result.labels.reshape(-1)
    flat = np.flatnonzero(flat_labels != FREE_LABEL)
    index = np.stack(np.unravel_index(flat, result.labels.shape), axis=1)
    return index, flat_labels[flat]


def surface_mask(occupied: np.ndarray) -> np.ndarray:
    """(X,Y,Z) bool of the occupied voxels that have at least one of their six face neighbours free
    or outside the grid; `occupied`: (X,Y,Z) bool."""
    padded = np.pad(occupied, 1, constant_values=False)
    enclosed = occupied.copy()
    for axis in range(3):
        for shift in (1, -1):
            enclosed &= np.roll(padded, shift, axis)[1:-1, 1:-1, 1:-1]
    return occupied & ~enclosed


def marker_array(result: OccupancyResult, frame_id: str, delete_all_first: bool) -> bytes:
    """Serialised MarkerArray of the surface voxels (see module docstring) at the result's timestamp."""
    index, labels = _occupied(result)
    visible = surface_mask(result.labels != FREE_LABEL)[tuple(index.T)]
    index, labels = index[visible], labels[visible]
    order = np.argsort(labels, kind='stable')
    centers = result.grid.index_to_center(index[order])
    sorted_labels = labels[order]
    colors = class_colors(result.prompts, result.class_ids)
    size = float(result.grid.voxel_size)
    markers = []
    groups = [(i, result.prompts[i], colors[i]) for i in range(len(result.prompts))]
    groups.append((UNKNOWN_LABEL, UNKNOWN_NAMESPACE, UNKNOWN_COLOR))
    for label, namespace, rgb in groups:
        start, stop = np.searchsorted(sorted_labels, [label, label + 1])
        marker = {'ns': namespace, 'id': int(label), 'centers': None}
        if stop > start:
            marker.update(centers=centers[start:stop], rgba=(*(rgb / 255.0), 1.0), scale=(size, size, size))
        markers.append(marker)
    return cdr.cube_list_marker_array(result.timestamp_ns, frame_id, markers, delete_all_first)


VOXEL_CLOUD_DTYPE = np.dtype({'names': ['x', 'y', 'z', 'score', 'rgb', 'label'],
                              'formats': ['<f4', '<f4', '<f4', '<f4', '<f4', 'u1'],
                              'offsets': [0, 4, 8, 12, 16, 20], 'itemsize': 24})


def voxel_records(result: OccupancyResult) -> np.ndarray:
    """(M,) VOXEL_CLOUD_DTYPE records of the occupied voxels (centres in metres, ego frame)."""
    index, labels = _occupied(result)
    palette = np.zeros((256, 3), dtype=np.uint32)
    palette[:len(result.prompts)] = class_colors(result.prompts, result.class_ids)
    palette[UNKNOWN_LABEL] = UNKNOWN_COLOR
    rgb = palette[labels]
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    records = np.zeros(len(index), dtype=VOXEL_CLOUD_DTYPE)
    centers = result.grid.index_to_center(index).astype(np.float32)
    records['x'], records['y'], records['z'] = centers.T
    records['score'] = result.scores[tuple(index.T)]
    records['rgb'] = packed.astype('<u4').view('<f4')
    records['label'] = labels
    return records


def voxel_cloud(result: OccupancyResult, frame_id: str) -> bytes:
    """Serialised PointCloud2 of occupied voxel centres (see module docstring)."""
    return cdr.point_cloud2(result.timestamp_ns, frame_id, voxel_records(result))


GRID_AXES = ('x', 'y', 'z')


def semantic_grid(result: OccupancyResult) -> bytes:
    """Serialised UInt8MultiArray of the dense label grid (see module docstring)."""
    return cdr.uint8_multi_array(result.labels, GRID_AXES)


def bev_cells(result: OccupancyResult) -> np.ndarray:
    """(Y,X) int8 OccupancyGrid cells, row-major by y: 100 obstacle column, 0 otherwise."""
    ground = np.zeros(256, dtype=bool)
    ids = np.asarray(result.class_ids, dtype=np.int64)
    ground[:len(ids)] = np.isin(ids, GROUND_CLASS_IDS)
    obstacle = (result.labels != FREE_LABEL) & ~ground[result.labels]
    cells = np.where(obstacle.any(axis=2), BEV_OBSTACLE, BEV_CLEAR).astype(np.int8)
    return np.ascontiguousarray(cells.T)


def bev_grid(result: OccupancyResult, frame_id: str) -> bytes:
    """Serialised nav_msgs/OccupancyGrid: resolution = voxel size, origin = the grid's (xmin, ymin)
    corner at z = 0 in `frame_id`, width = X cells, height = Y cells."""
    cells = bev_cells(result)
    grid = result.grid
    w = cdr.CdrWriter()
    w.header(result.timestamp_ns, frame_id)
    w.primitive('i', result.timestamp_ns // 1_000_000_000)   # info.map_load_time
    w.primitive('I', result.timestamp_ns % 1_000_000_000)
    w.primitive('f', float(grid.voxel_size))
    w.primitive('I', cells.shape[1])
    w.primitive('I', cells.shape[0])
    w.primitives('d', float(grid.lower[0]), float(grid.lower[1]), 0.0, 0.0, 0.0, 0.0, 1.0)
    w.raw_bytes_sequence(cells.tobytes())
    return w.getvalue()


def legend_json(prompts, class_ids, grid, frame_id: str) -> str:
    """The legend: per prompt its label value, text, Occ3D id and colour; the unknown and free label
    values; the grid geometry the `~/grid` message needs (shape, range, voxel size, frame, axis
    order, label meanings)."""
    colors = class_colors(prompts, class_ids)
    ids = np.asarray(class_ids, dtype=np.int64).reshape(-1)
    classes = [{'label': i, 'prompt': p, 'occ3d_id': int(ids[i]) if i < len(ids) else -1,
                'color_rgb': [int(c) for c in colors[i]]} for i, p in enumerate(prompts)]
    doc = {
        'classes': classes,
        'unknown': {'label': UNKNOWN_LABEL, 'color_rgb': [int(c) for c in UNKNOWN_COLOR]},
        'free': {'label': FREE_LABEL},
        'grid': {'frame_id': frame_id, 'shape': list(grid.shape), 'axes': list(GRID_AXES), 'order': 'C',
                 'point_range': list(grid.point_range), 'voxel_size': float(grid.voxel_size)},
    }
    return json.dumps(doc, sort_keys=True)
