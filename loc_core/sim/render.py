"""A preview PNG of a frame that a person can look at: the six cameras as nuScenes lays them out
(front row FL, F, FR; back row BL, B, BR), their pixel labels, and a bird's-eye view of the
ground-truth occupancy (top-most occupied voxel per column) with the LiDAR points and the boxes."""
from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageDraw

from loc_core.data.frame import Frame
from loc_core.data.occ3d_io import atomic_write_bytes
from loc_core.data.vocabulary import FREE_ID, OCC3D_COLORS
from loc_core.viz.snapshots import top_labels

MOSAIC_ORDER = (('CAM_FRONT_LEFT', 'CAM_FRONT', 'CAM_FRONT_RIGHT'), ('CAM_BACK_LEFT', 'CAM_BACK', 'CAM_BACK_RIGHT'))
BEV_SCALE = 3  # pixels per voxel


def bev_image(semantics: np.ndarray) -> np.ndarray:
    """(X,Y,Z) uint8 Occ3D ids -> (X,Y,3) uint8 RGB, the top-most occupied voxel of each column,
    drawn with +x (ego forward) up and +y (left) to the left."""
    return np.ascontiguousarray(OCC3D_COLORS[top_labels(semantics, FREE_ID)][::-1, ::-1])


def _labels_rgb(labels: np.ndarray) -> np.ndarray:
    return OCC3D_COLORS[np.minimum(labels, FREE_ID)]


def _mosaic(frame: Frame, labels: bool) -> np.ndarray:
    rows = []
    for names in MOSAIC_ORDER:
        row = []
        for name in names:
            cam = frame.camera(name)
            row.append(_labels_rgb(cam.pixel_labels) if labels and cam.pixel_labels is not None else cam.image)
        rows.append(np.concatenate(row, axis=1))
    return np.concatenate(rows, axis=0)


def _draw_bev(frame: Frame, grid) -> Image.Image:
    bev = Image.fromarray(bev_image(frame.occupancy.semantics)).resize(
        (grid.shape[1] * BEV_SCALE, grid.shape[0] * BEV_SCALE), Image.NEAREST)
    draw = ImageDraw.Draw(bev)

    def to_px(xy):
        col = (grid.upper[1] - xy[..., 1]) / grid.voxel_size * BEV_SCALE
        row = (grid.upper[0] - xy[..., 0]) / grid.voxel_size * BEV_SCALE
        return np.stack([col, row], axis=-1)

    pts = frame.points_ego()
    keep = grid.in_range(pts)
    for c, r in to_px(pts[keep][::4, :2]):
        draw.point((float(c), float(r)), fill=(20, 20, 20))
    if frame.boxes is not None and len(frame.boxes):
        for corners in frame.boxes.corners():
            quad = to_px(corners[[0, 2, 6, 4], :2])
            draw.polygon([tuple(map(float, p)) for p in quad], outline=(0, 0, 0))
    ego = to_px(np.array([[-1.0, -0.95], [3.9, -0.95], [3.9, 0.95], [-1.0, 0.95]]))
    draw.polygon([tuple(map(float, p)) for p in ego], fill=(255, 0, 0))
    return bev


def render_preview(frame: Frame, grid) -> np.ndarray:
    """(H,W,3) uint8: camera mosaic over its label mosaic, BEV of the ground truth to the right."""
    images = np.concatenate([_mosaic(frame, False), _mosaic(frame, True)], axis=0)
    bev = np.asarray(_draw_bev(frame, grid))
    height = max(images.shape[0], bev.shape[0])
    canvas = np.full((height, images.shape[1] + bev.shape[1] + 8, 3), 255, dtype=np.uint8)
    canvas[:images.shape[0], :images.shape[1]] = images
    canvas[:bev.shape[0], images.shape[1] + 8:] = bev
    return canvas


def save_preview(path, frame: Frame, grid) -> None:
    """Write `render_preview` as a PNG, atomically."""
    buffer = io.BytesIO()
    Image.fromarray(render_preview(frame, grid)).save(buffer, format='PNG')
    atomic_write_bytes(path, buffer.getvalue())
