"""Snapshot rendering: columns, orientation, occlusion and colours are what a person expects."""
import numpy as np

from loc_core.data.frame import CameraView
from loc_core.data.vocabulary import OCC3D_COLORS
from loc_core.geometry import VoxelGrid
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL
from loc_core.viz.palette import label_lut, prompt_color
from loc_core.viz.snapshots import bev_image, camera_overlay, first_hit_labels, top_labels, voxel_view_3d

FREE = 17


def _empty():
    return np.full((200, 200, 16), FREE, np.uint8)


def test_top_labels_takes_the_highest_voxel():
    labels = _empty()
    labels[5, 5, 2], labels[5, 5, 9] = 11, 4
    top = top_labels(labels, FREE)
    assert top[5, 5] == 4 and top[0, 0] == FREE


def test_bev_puts_forward_up_and_left_left():
    labels = _empty()
    labels[150, 150, 3] = 4  # x = +20 m (ahead), y = +20 m (left)
    lut = np.zeros((256, 3), np.uint8)
    lut[4] = (255, 158, 0)
    image = bev_image(labels, lut, FREE, scale=1)
    rows, cols = np.nonzero(np.all(image == (255, 158, 0), axis=2))
    assert rows.max() < 100 and cols.max() < 100  # upper-left quadrant


def _front_camera(width=160, height=90):
    cam_to_ego = np.eye(4)
    cam_to_ego[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]  # optical z along ego +x
    cam_to_ego[:3, 3] = (0, 0, 1.5)
    k = np.array([[80.0, 0, width / 2], [0, 80.0, height / 2], [0, 0, 1]])
    return CameraView('CAM_FRONT', np.zeros((height, width, 3), np.uint8), k, cam_to_ego)


def test_first_hit_respects_occlusion():
    grid = VoxelGrid()
    labels = _empty()
    near = grid.point_to_index([[10.0, 0.0, 1.5]])[0]
    far = grid.point_to_index([[20.0, 0.0, 1.5]])[0]
    labels[near[0], near[1] - 3:near[1] + 4, near[2] - 3:near[2] + 4] = 1  # a small wall at 10 m
    labels[far[0], :, :] = 15  # a big wall at 20 m behind it
    hits = first_hit_labels(_front_camera(), labels, grid, FREE, stride=2)
    centre = hits[hits.shape[0] // 2, hits.shape[1] // 2]
    assert centre == 1
    around_camera = grid.point_to_index([[0.0, 0.0, 1.5]])[0]
    own = labels.copy()
    own[tuple(around_camera)] = 4  # the ego vehicle's own voxel: not what the camera sees
    np.testing.assert_array_equal(first_hit_labels(_front_camera(), own, grid, FREE, stride=2), hits)
    assert (hits == 15).sum() > (hits == 1).sum() > 0
    lut = np.zeros((256, 3), np.uint8)
    lut[:18] = OCC3D_COLORS
    overlay = camera_overlay(_front_camera(), labels, lut, FREE, grid, stride=2)
    centre_pixel = overlay[45, 80].astype(int)
    np.testing.assert_allclose(centre_pixel, OCC3D_COLORS[1] * 0.5, atol=1)  # barrier over a black image


def test_palette_keeps_class_colours_and_separates_novel_prompts():
    lut = label_lut(['car', 'stroller', 'shopping cart'], [4, -1, -1])
    assert lut[0].tolist() == [255, 158, 0]
    assert not np.array_equal(lut[1], lut[2])
    assert np.array_equal(prompt_color('Stroller'), prompt_color('stroller'))
    assert lut[UNKNOWN_LABEL].tolist() == [255, 0, 255] and lut[FREE_LABEL].tolist() == [255, 255, 255]


def test_voxel_view_renders_something():
    labels = _empty()
    labels[90:110, 90:110, 2] = 11
    lut = np.zeros((256, 3), np.uint8)
    lut[11] = (0, 207, 191)
    image = voxel_view_3d(labels, lut, FREE, VoxelGrid(), size_px=(300, 300))
    assert image.ndim == 3 and np.any(np.all(image == (0, 207, 191), axis=2))
