"""Pictures of one prediction for people: a top-down semantic map, a camera image with the predicted
voxels projected into it, and a 3D voxel view. All return (H,W,3) uint8 RGB arrays or write PNGs."""
from __future__ import annotations

import numpy as np

from loc_core.data.frame import CameraView
from loc_core.geometry.voxel_grid import VoxelGrid


def top_labels(labels, free_value: int) -> np.ndarray:
    """(X,Y,Z) uint8 labels -> (X,Y) uint8: the label of the highest non-free voxel of each column,
    `free_value` where the column is empty."""
    occupied = labels != free_value
    z_count = labels.shape[2]
    highest = z_count - 1 - np.argmax(occupied[:, :, ::-1], axis=2)
    top = np.take_along_axis(labels, highest[..., None], axis=2)[..., 0]
    return np.where(occupied.any(axis=2), top, free_value).astype(np.uint8)


def bev_image(labels, lut, free_value: int, scale: int = 3, background=(30, 30, 30)) -> np.ndarray:
    """(X,Y,Z) labels -> (scale*X, scale*Y, 3) uint8 top-down view, ego at the centre, +x (forward) up,
    +y (left) to the left. `lut` (256,3) uint8 colours of label values."""
    top = top_labels(labels, free_value)
    image = lut[top].copy()
    image[top == free_value] = background
    image = image[::-1, ::-1]  # row 0 = front (max x), column 0 = left (max y)
    centre = np.array(image.shape[:2]) // 2
    image[centre[0] - 1:centre[0] + 2, centre[1] - 1:centre[1] + 2] = (255, 0, 0)  # the ego vehicle
    return np.repeat(np.repeat(image, scale, axis=0), scale, axis=1)


def first_hit_labels(camera: CameraView, labels, grid: VoxelGrid, free_value: int, stride: int = 4,
                     near: float = 1.5, max_range: float = 60.0, rows_per_chunk: int = 32) -> np.ndarray:
    """March one ray per `stride`x`stride` pixel block through the label grid -> (H//stride, W//stride)
    uint8: the label of the first non-free voxel each ray meets (ego frame), `free_value` for none.
    Steps of half a voxel from `near` to `max_range` metres; `near` skips the voxels around the camera,
    which belong to the ego vehicle itself (a camera sees out of it, and models may fill them)."""
    width, height = camera.image_size
    us = (np.arange(width // stride) + 0.5) * stride
    vs = (np.arange(height // stride) + 0.5) * stride
    k_inv = np.linalg.inv(camera.intrinsics)
    rot, origin = camera.cam_to_ego[:3, :3], camera.cam_to_ego[:3, 3]
    steps = np.arange(near, max_range, grid.voxel_size / 2)
    out = np.full((len(vs), len(us)), free_value, dtype=np.uint8)
    shape = np.asarray(grid.shape)
    for row0 in range(0, len(vs), rows_per_chunk):
        uu, vv = np.meshgrid(us, vs[row0:row0 + rows_per_chunk])
        pix = np.stack([uu.ravel(), vv.ravel(), np.ones(uu.size)], axis=1)
        dirs = (pix @ k_inv.T) @ rot.T
        dirs /= np.linalg.norm(dirs, axis=1, keepdims=True)
        samples = origin + dirs[:, None, :] * steps[None, :, None]  # (R,S,3) ego frame
        idx = np.floor((samples - grid.lower) / grid.voxel_size).astype(np.int64)
        inside = np.all((idx >= 0) & (idx < shape), axis=2)
        idx = np.where(inside[..., None], idx, 0)
        hit_labels = labels[idx[..., 0], idx[..., 1], idx[..., 2]]
        hit = inside & (hit_labels != free_value)
        first = np.argmax(hit, axis=1)
        any_hit = hit[np.arange(len(hit)), first]
        chunk = np.where(any_hit, hit_labels[np.arange(len(hit)), first], free_value)
        out[row0:row0 + rows_per_chunk] = chunk.reshape(uu.shape)
    return out


def camera_overlay(camera: CameraView, labels, lut, free_value: int, grid: VoxelGrid,
                   alpha: float = 0.5, stride: int = 4) -> np.ndarray:
    """The camera image with the predicted voxels it sees blended in their label colours."""
    hits = first_hit_labels(camera, labels, grid, free_value, stride)
    colors = np.repeat(np.repeat(lut[hits], stride, axis=0), stride, axis=1)
    painted = np.repeat(np.repeat(hits != free_value, stride, axis=0), stride, axis=1)
    image = camera.image.astype(np.float32)
    h, w = painted.shape
    region = image[:h, :w]
    region[painted] = (1 - alpha) * region[painted] + alpha * colors[painted]
    return image.astype(np.uint8)


def voxel_view_3d(labels, lut, free_value: int, grid: VoxelGrid, max_voxels: int = 80000,
                  size_px=(900, 700)) -> np.ndarray:
    """A 3D scatter render of the occupied voxels (matplotlib, off-screen) -> (H,W,3) uint8."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    idx = np.argwhere(labels != free_value)
    if len(idx) > max_voxels:
        idx = idx[np.random.default_rng(0).choice(len(idx), max_voxels, replace=False)]
    centers = grid.index_to_center(idx)
    colors = lut[labels[idx[:, 0], idx[:, 1], idx[:, 2]]] / 255.0
    fig = plt.figure(figsize=(size_px[0] / 100, size_px[1] / 100), dpi=100)
    ax = fig.add_subplot(projection='3d')
    ax.scatter(centers[:, 0], centers[:, 1], centers[:, 2], c=colors, s=1.5, marker='s', depthshade=False)
    ax.set_xlim(grid.lower[0], grid.upper[0])
    ax.set_ylim(grid.lower[1], grid.upper[1])
    ax.set_zlim(grid.lower[2], grid.upper[2])
    ax.set_box_aspect(tuple(grid.upper - grid.lower))
    ax.view_init(elev=35, azim=-150)
    ax.set_axis_off()
    fig.tight_layout(pad=0)
    fig.canvas.draw()
    image = np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()
    plt.close(fig)
    return crop_background(image)


def crop_background(image, background=255, margin: int = 10) -> np.ndarray:
    """Crop uniform background borders of an (H,W,3) uint8 image, keeping `margin` pixels."""
    content = np.any(image != background, axis=2)
    if not content.any():
        return image
    rows, cols = np.flatnonzero(content.any(axis=1)), np.flatnonzero(content.any(axis=0))
    top, bottom = max(rows[0] - margin, 0), min(rows[-1] + margin + 1, image.shape[0])
    left, right = max(cols[0] - margin, 0), min(cols[-1] + margin + 1, image.shape[1])
    return image[top:bottom, left:right]


def save_png(path, image) -> None:
    """Write an (H,W,3) uint8 image as PNG atomically."""
    import io

    from PIL import Image

    from loc_core.data.occ3d_io import atomic_write_bytes

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(image, dtype=np.uint8)).save(buffer, format='PNG')
    atomic_write_bytes(path, buffer.getvalue())


def overview(panels: list[tuple[str, np.ndarray]], top: tuple[str, np.ndarray], width: int = 1200) -> np.ndarray:
    """One picture: `top` (title, image) across the full width, then `panels` side by side below,
    each with its title. Images (H,W,3) uint8; returns (H,W,3) uint8 on a white background."""
    from PIL import Image, ImageDraw

    def titled(title, image, target_width):
        img = Image.fromarray(np.asarray(image, dtype=np.uint8))
        img = img.resize((target_width, max(1, round(img.height * target_width / img.width))))
        canvas = Image.new('RGB', (target_width, img.height + 22), 'white')
        canvas.paste(img, (0, 22))
        ImageDraw.Draw(canvas).text((6, 5), title, fill=(0, 0, 0))
        return canvas

    head = titled(*top, width)
    tiles = [titled(title, image, width // len(panels)) for title, image in panels]
    row_height = max(t.height for t in tiles)
    sheet = Image.new('RGB', (width, head.height + row_height), 'white')
    sheet.paste(head, (0, 0))
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (i * (width // len(panels)), head.height))
    return np.asarray(sheet)
