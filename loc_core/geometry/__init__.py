"""Geometry: rigid transforms, voxel grids, pinhole cameras (numpy, with torch twins)."""
from loc_core.geometry.camera import in_frustum, in_image, project_points, project_to_camera
from loc_core.geometry.transforms import (apply_rotation, apply_transform, compose, invert,
                                          make_transform, matrix_to_quaternion,
                                          quaternion_to_matrix, split_transform, yaw_transform)
from loc_core.geometry.voxel_grid import OCC3D_RANGE, OCC3D_VOXEL_SIZE, VoxelGrid

__all__ = [
    'VoxelGrid', 'OCC3D_RANGE', 'OCC3D_VOXEL_SIZE', 'make_transform', 'split_transform', 'invert',
    'compose', 'apply_transform', 'apply_rotation', 'quaternion_to_matrix', 'matrix_to_quaternion',
    'yaw_transform', 'project_points', 'project_to_camera', 'in_image', 'in_frustum',
]
