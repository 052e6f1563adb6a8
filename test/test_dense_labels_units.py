"""Dense-label stages on small constructed scenes whose answers are known exactly."""
import numpy as np
import pytest

from loc_core.data.boxes import Boxes
from loc_core.data.frame import CameraView, Frame
from loc_core.geometry.transforms import yaw_transform
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.gt.config import DenseLabelConfig
from loc_core.gt.densify import (batched_surface_points, fill_ground_gaps, fill_object_columns, occupied_voxels,
                                 surface_points,
                                 thicken_surfaces)
from loc_core.gt.fusion import box_membership, fuse_sequence
from loc_core.gt.masks import camera_mask, lidar_mask, ray_stride
from loc_core.gt.semantics import LabelVoter

GRID = VoxelGrid()


def _frame(points, labels=None, boxes=None, ego_x=0.0, token='f'):
    points = np.asarray(points, np.float32).reshape(-1, 3)
    return Frame(timestamp_ns=0, points=points, intensity=np.zeros(len(points)), lidar_to_ego=np.eye(4),
                 ego_to_world=yaw_transform(ego_x, 0, 0, 0), point_labels=labels, boxes=boxes, token=token)


def _car_box(x, instance='car-1'):
    return Boxes(yaw_transform(x, 10.0, 1.0, 0.0)[None], [[2.0, 4.0, 2.0]], [4], [instance])


def test_config_rejects_bad_values_and_unknown_names():
    with pytest.raises(ValueError, match='knn_k'):
        DenseLabelConfig(knn_k=0)
    with pytest.raises(ValueError, match='unknown'):
        DenseLabelConfig.from_dict({'knn': 3})
    assert DenseLabelConfig.from_dict(DenseLabelConfig().to_dict()) == DenseLabelConfig()


def test_box_membership_grows_sides_and_top_but_not_bottom():
    box = _car_box(0.0)
    points = [[0, 10, 1], [2.1, 10, 1], [0, 10, 2.1], [0, 10, -0.05], [3.0, 10, 1]]
    assert box_membership(box, points, margin=0.2).tolist() == [0, 0, 0, -1, -1]
    assert box_membership(box, points, margin=0.0).tolist() == [0, -1, -1, -1, -1]


def test_objects_are_accumulated_in_their_box_and_placed_with_each_frames_pose():
    # a car moving +4 m in x in the world between two frames (+3 m in the ego frame, the ego moves +1 m)
    ground = np.stack(np.meshgrid(np.arange(-5, 5, 0.5), np.arange(-5, 5, 0.5), [-0.0]), -1).reshape(-1, 3)
    car0 = np.array([[1.5, 10.5, 1.0], [-1.5, 9.5, 1.5]])  # car points seen in frame 0 (ego frame)
    car1 = np.array([[3.0, 10.0, 1.9]])  # frame 1 sees another part of the car
    frame0 = _frame(np.concatenate([ground, car0]), boxes=_car_box(0.0))
    frame1 = _frame(np.concatenate([ground - [1, 0, 0], car1]), boxes=_car_box(3.0), ego_x=1.0)
    config = DenseLabelConfig(ego_box=None, min_points=1)
    fused = fuse_sequence([frame0, frame1], config)
    assert len(fused.objects['car-1']) == 3 and fused.object_classes['car-1'] == 4
    static, objects = fused.keyframe_points(1, [0, 1], GRID, 2.0, config.box_margin)
    expected = np.concatenate([car0 + [3, 0, 0], car1])
    np.testing.assert_allclose(np.sort(objects.points, axis=0), np.sort(expected, axis=0), atol=1e-9)
    assert np.all(objects.labels == 4)
    assert len(static) == 2 * len(ground)  # both frames' ground, none of the car


def test_voter_takes_majority_within_cutoff_and_ignores_unlabelled():
    points = np.array([[0, 0, 0], [0.1, 0, 0], [0.2, 0, 0], [0, 0.1, 0], [5, 5, 5]], float)
    labels = np.array([4, 4, 11, 255, 16], np.uint8)
    voter = LabelVoter(points, labels, k=3, max_distance=1.0)
    assert voter.vote([[0, 0, 0], [5, 5, 5.5], [20, 20, 20]]).tolist() == [4, 16, 255]
    # a 1-1 tie goes to the nearer point
    tie = LabelVoter(np.array([[0, 0, 0], [0.5, 0, 0]]), np.array([7, 8], np.uint8), k=2, max_distance=1)
    assert tie.vote([[0.4, 0, 0]]).tolist() == [8]
    assert LabelVoter(points, np.full(5, 255, np.uint8)).vote([[0, 0, 0]]).tolist() == [255]


def test_lidar_mask_marks_the_voxels_a_ray_crosses_and_nothing_beyond():
    mask = lidar_mask(GRID, np.array([[0.1, 0.1, 0.1]]), np.array([[10.1, 0.1, 0.1]]), step=0.2)
    ix = GRID.point_to_index([[0.1, 0.1, 0.1]])[0]
    crossed = np.argwhere(mask)
    assert set(crossed[:, 1]) == {ix[1]} and set(crossed[:, 2]) == {ix[2]}
    assert sorted(crossed[:, 0]) == list(range(ix[0], ix[0] + 26))  # 0.1 .. 10.1 m = 26 voxels


def _front_camera():
    # optical frame looking along ego +x: x_cam = -y_ego, y_cam = -z_ego, z_cam = x_ego
    cam_to_ego = np.eye(4)
    cam_to_ego[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    cam_to_ego[:3, 3] = [0, 0, 1.5]
    k = [[400, 0, 320], [0, 400, 240], [0, 0, 1]]
    return CameraView('CAM', np.zeros((480, 640, 3), np.uint8), k, cam_to_ego)


def test_camera_mask_sees_free_space_up_to_a_wall_and_not_behind_it():
    occupied = np.zeros(GRID.shape, bool)
    wall_x = GRID.point_to_index([[10.1, 0, 0]])[0, 0]
    occupied[wall_x, 90:110, :] = True
    mask = camera_mask(GRID, occupied, [_front_camera()], stride=8)
    y, z = GRID.point_to_index([[0, 0.1, 1.5]])[0, 1:]
    assert mask[wall_x - 5, y, z] and mask[wall_x, y, z]  # free space before the wall, the wall
    assert not mask[wall_x + 3, y, z]  # behind the wall
    assert not mask[GRID.point_to_index([[-10, 0, 0]])[0, 0], y, z]  # behind the camera
    assert not camera_mask(GRID, occupied, []).any()


def test_camera_mask_sees_the_ground_far_ahead_at_grazing_angles():
    """Occ3D's camera mask: the ground a camera looks at is seen out to the grid's edge, however
    flat the angle; the layer under it is not (rays stop at the first occupied voxel)."""
    occupied = np.zeros(GRID.shape, bool)
    ground = GRID.point_to_index([[0, 0, 0.1]])[0, 2]
    occupied[:, :, ground] = True
    camera = _front_camera()  # 1.4 m above the ground voxels' centres
    mask = camera_mask(GRID, occupied, [camera])
    y = GRID.point_to_index([[0, 0.1, 0]])[0, 1]
    ahead = [GRID.point_to_index([[x, 0.1, 0]])[0, 0] for x in (5.1, 15.1, 30.1, 39.9)]
    assert all(mask[x, y, ground] for x in ahead)
    assert not mask[:, :, :ground].any()
    in_view = GRID.all_centers()[:, 0].reshape(GRID.shape)[:, :, ground] > 4.0  # the image sees it from ~4 m
    in_view &= np.abs(GRID.all_centers()[:, 1].reshape(GRID.shape)[:, :, ground]) < 0.7 * GRID.all_centers()[:, 0].reshape(GRID.shape)[:, :, ground]
    assert mask[:, :, ground][in_view].mean() > 0.95
    assert ray_stride(GRID, camera) == 1  # f = 400 px: one ray per pixel keeps rays half a voxel apart at 57 m


def _plane_with_hole(step=0.1):
    xy = np.stack(np.meshgrid(np.arange(-6, 6, step), np.arange(-6, 6, step)), -1).reshape(-1, 2)
    xy = xy[np.linalg.norm(xy, axis=1) > 1.0]  # a 2 m wide hole in the middle
    return np.column_stack([xy, np.full(len(xy), 0.3)])


def test_poisson_fills_a_hole_in_a_plane_only_near_data():
    points = _plane_with_hole()
    origins = np.tile([0.0, 0.0, 2.0], (len(points), 1))
    surface = surface_points(points, origins, cell=0.1, max_depth=9, density_quantile=0.0, spacing=0.1,
                             thin=0.1, normal_radius=0.5, normal_max_nn=20)
    raw = occupied_voxels(GRID, points)
    dense = occupied_voxels(GRID, points, surface, fill_radius=1, fill_radius_xy=3)
    centre = tuple(GRID.point_to_index([[0.0, 0.0, 0.3]])[0])
    assert not raw[centre] and dense[centre]
    assert not occupied_voxels(GRID, points, surface, fill_radius=0)[centre]
    # no invented surfaces far from the data: all within 3 voxels across and 1 up/down of the plane
    where = GRID.index_to_center(np.argwhere(dense))
    assert np.abs(where[:, :2]).max() <= 6 + 3 * 0.4 + 0.2 and np.abs(where[:, 2] - 0.3).max() <= 0.4 + 0.2
    [alone] = batched_surface_points([(points, origins)], cell=0.1, max_depth=9, density_quantile=0.0,
                                     spacing=0.1, thin=0.1, normal_radius=0.5, normal_max_nn=20)
    assert occupied_voxels(GRID, points, alone, fill_radius=1, fill_radius_xy=3)[centre]


def test_object_columns_are_filled_solid_inside_their_box_only():
    semantics = np.full(GRID.shape, 17, np.uint8)
    box = Boxes(yaw_transform(10.2, 10.2, 1.0, 0.0)[None], [[2.0, 4.0, 2.0]], [4], ['car'])
    x, y = GRID.point_to_index([[10.1, 10.1, 0.0]])[0, :2]
    z_low, z_high = GRID.point_to_index([[0, 0, 0.3], [0, 0, 1.7]])[:, 2]
    semantics[x, y, z_high] = 4  # the roof of one column
    semantics[x + 1, y, z_low] = 4  # the lowest car voxel (a side)
    semantics[x, y - 20, z_low:z_high] = 11  # outside the box: untouched
    changed = fill_object_columns(GRID, semantics, box)
    assert changed == z_high - z_low and np.all(semantics[x, y, z_low:z_high + 1] == 4)
    assert semantics[x, y, z_low - 1] == 17 and np.all(semantics[x, y - 20, z_low:z_high] == 11)


def test_whole_box_fill_covers_the_box_above_the_objects_lowest_voxel():
    semantics = np.full(GRID.shape, 17, np.uint8)
    box = Boxes(yaw_transform(10.2, 10.2, 1.0, 0.0)[None], [[2.0, 4.0, 2.0]], [4], ['car'])
    x, y = GRID.point_to_index([[10.1, 10.1, 0.0]])[0, :2]
    z_low = GRID.point_to_index([[0, 0, 0.3]])[0, 2]
    semantics[x, y, z_low] = 4
    fill_object_columns(GRID, semantics, box, whole_box=True)
    filled = np.argwhere(semantics == 4)
    assert filled[:, 2].min() == z_low and filled[:, 2].max() == GRID.point_to_index([[0, 0, 1.99]])[0, 2]
    assert len(np.unique(filled[:, 0])) == 10 + 1 and len(np.unique(filled[:, 1])) == 5 + 1  # 4 x 2 m + half voxels
    empty = np.full(GRID.shape, 17, np.uint8)
    assert fill_object_columns(GRID, empty, box, whole_box=True) == 0  # no evidence, no object


def test_thickening_fills_behind_surfaces_as_seen_from_the_sensor():
    semantics = np.full(GRID.shape, 17, np.uint8)
    wall = GRID.point_to_index([[10.1, 0.1, 1.0]])[0]
    semantics[tuple(wall)] = 15
    assert thicken_surfaces(GRID, semantics, origin=[0, 0, 1.0], steps=2) == 2
    assert semantics[wall[0] + 1, wall[1], wall[2]] == 15 and semantics[wall[0] + 2, wall[1], wall[2]] == 15
    assert semantics[wall[0] - 1, wall[1], wall[2]] == 17  # nothing in front of the surface


def test_ground_gaps_take_the_nearest_ground_voxel_within_the_radius_only():
    semantics = np.full(GRID.shape, 17, np.uint8)
    semantics[100:110, 100:110, 2] = 12  # a patch of flat ground
    semantics[104, 104, 2] = 17  # a gap inside it
    semantics[120, 100, 5] = 15  # a column that is not empty stays as it is
    filled = fill_ground_gaps(GRID, semantics, radius=1.0)  # 2.5 voxels
    assert semantics[104, 104, 2] == 12 and semantics[111, 105, 2] == 12  # 2 voxels = 0.8 m away
    assert semantics[112, 105, 2] == 17 and semantics[120, 100, 2] == 17  # 1.2 m away / column in use
    assert filled == int((semantics == 12).sum()) - 99
    assert fill_ground_gaps(GRID, semantics, radius=0.0) == 0
