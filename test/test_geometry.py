"""Transforms, voxel grids and pinhole projection: properties and exact cases."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loc_core.geometry import (VoxelGrid, apply_transform, compose, in_frustum, invert, make_transform,
                               matrix_to_quaternion, project_points, quaternion_to_matrix,
                               split_transform, yaw_transform)

finite = st.floats(-100, 100, allow_nan=False, allow_infinity=False)
quat = st.tuples(*[st.floats(-1, 1, allow_nan=False)] * 4).filter(lambda q: np.linalg.norm(q) > 0.1)


@settings(max_examples=200, deadline=None)
@given(t=st.tuples(finite, finite, finite), q=quat)
def test_compose_with_inverse_is_identity(t, q):
    transform = make_transform(t, q)
    np.testing.assert_allclose(compose(transform, invert(transform)), np.eye(4), atol=1e-9)
    np.testing.assert_allclose(compose(invert(transform), transform), np.eye(4), atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(t=st.tuples(finite, finite, finite), q=quat)
def test_quaternion_round_trip(t, q):
    translation, q_back = split_transform(make_transform(t, q))
    q_unit = np.asarray(q) / np.linalg.norm(q)
    assert np.allclose(q_back, q_unit, atol=1e-7) or np.allclose(q_back, -q_unit, atol=1e-7)
    np.testing.assert_allclose(translation, t)
    np.testing.assert_allclose(quaternion_to_matrix(matrix_to_quaternion(quaternion_to_matrix(q))),
                               quaternion_to_matrix(q), atol=1e-9)


def test_known_rotation_and_compose_order():
    rot_z90 = make_transform([1, 2, 3], [np.cos(np.pi / 4), 0, 0, np.sin(np.pi / 4)])
    np.testing.assert_allclose(apply_transform(rot_z90, np.array([[1.0, 0, 0]])), [[1, 3, 3]], atol=1e-12)
    shift = make_transform([10, 0, 0], [1, 0, 0, 0])
    # compose(b_to_c, a_to_b): a_to_b applied first
    np.testing.assert_allclose(apply_transform(compose(shift, rot_z90), np.zeros((1, 3))), [[11, 2, 3]])
    np.testing.assert_allclose(yaw_transform(1, 2, 3, np.pi / 2), rot_z90, atol=1e-12)


def test_bad_quaternion_is_rejected():
    with pytest.raises(ValueError, match='quaternion'):
        quaternion_to_matrix([0, 0, 0, 0])


def test_apply_transform_keeps_float32():
    pts = np.ones((5, 3), np.float32)
    assert apply_transform(make_transform([1, 1, 1], [1, 0, 0, 0]), pts).dtype == np.float32


def test_occ3d_grid_defaults():
    grid = VoxelGrid()
    assert grid.shape == (200, 200, 16)
    np.testing.assert_allclose(grid.index_to_center([[0, 0, 0]]), [[-39.8, -39.8, -0.8]])
    np.testing.assert_allclose(grid.index_to_center([[199, 199, 15]]), [[39.8, 39.8, 5.2]])
    assert grid.all_centers().shape == (200 * 200 * 16, 3)
    assert grid.in_range([[39.99, -40, 5.39], [40, 0, 0], [0, 0, -1.01]]).tolist() == [True, False, False]


def test_invalid_grid_is_rejected():
    with pytest.raises(ValueError, match='voxel_size'):
        VoxelGrid(voxel_size=0)
    with pytest.raises(ValueError, match='multiple'):
        VoxelGrid(point_range=(0, 0, 0, 1, 1, 1), voxel_size=0.3)
    with pytest.raises(ValueError, match='exceed'):
        VoxelGrid(point_range=(0, 0, 0, -1, 1, 1), voxel_size=0.5)


points = st.tuples(st.floats(-39.999, 39.999), st.floats(-39.999, 39.999), st.floats(-0.999, 5.399))


@settings(max_examples=300, deadline=None)
@given(p=points)
def test_point_index_centre_round_trip(p):
    grid = VoxelGrid()
    idx = grid.point_to_index(np.array([p]))
    assert grid.valid_index(idx).all()
    centre = grid.index_to_center(idx)
    assert np.all(np.abs(centre - p) <= grid.voxel_size / 2 + 1e-9)
    np.testing.assert_array_equal(grid.point_to_index(centre), idx)


@settings(max_examples=100, deadline=None)
@given(i=st.integers(0, 199), j=st.integers(0, 199), k=st.integers(0, 15))
def test_index_centre_index_is_identity(i, j, k):
    grid = VoxelGrid()
    np.testing.assert_array_equal(grid.point_to_index(grid.index_to_center([[i, j, k]])), [[i, j, k]])


def test_voxelize_scatters_values():
    grid = VoxelGrid()
    occ = grid.voxelize(np.array([[0.1, 0.1, 0.1], [100, 0, 0]]), values=np.array([7, 9]))
    assert occ.sum() == 7 and occ[100, 100, 2] == 7


def test_projection_and_frustum():
    k = np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    pixels, depth = project_points(np.array([[0, 0, 2.0], [1, 0.5, 2.0], [0, 0, -1.0]]), k)
    np.testing.assert_allclose(pixels[:2], [[50, 40], [100, 65]])
    np.testing.assert_allclose(depth, [2, 2, -1])
    # camera looking along ego +x: optical z = ego x, optical x = -ego y, optical y = -ego z
    cam_to_ego = np.eye(4)
    cam_to_ego[:3, :3] = [[0, 0, 1], [-1, 0, 0], [0, -1, 0]]
    inside = in_frustum(np.array([[5.0, 0, 0], [-5.0, 0, 0], [5.0, 50, 0], [0.05, 0, 0]]), cam_to_ego, k,
                        (100, 80))
    assert inside.tolist() == [True, False, False, False]


def test_torch_twins_match_numpy():
    import torch

    from loc_core.geometry.camera import project_points_torch
    from loc_core.geometry.transforms import apply_transform_torch

    rng = np.random.default_rng(0)
    transform = make_transform(rng.normal(size=3), rng.normal(size=4))
    pts = rng.normal(size=(50, 3)) + [0, 0, 5]
    np.testing.assert_allclose(apply_transform_torch(transform, torch.from_numpy(pts)).numpy(),
                               apply_transform(transform, pts), atol=1e-9)
    k = np.array([[100.0, 0, 50], [0, 100, 40], [0, 0, 1]])
    px_t, _ = project_points_torch(torch.from_numpy(pts), torch.from_numpy(k))
    np.testing.assert_allclose(px_t.numpy(), project_points(pts, k)[0], atol=1e-9)
