"""The shipped real-sensor checkpoint: found by name, and the network's LiDAR input leaves the
vehicle's own returns (its `ego_box`) out for every source alike."""
import numpy as np
import torch

from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.models.checkpoint import DEMO_CHECKPOINT, REAL_CHECKPOINT, load_checkpoint, resolve_shipped
from loc_core.models.fusion import lidar_bev


def test_shipped_checkpoints_resolve_by_name_and_load():
    assert resolve_shipped('real') == REAL_CHECKPOINT and resolve_shipped('demo') == DEMO_CHECKPOINT
    assert resolve_shipped('') == '' and resolve_shipped('none') == 'none'
    assert resolve_shipped('/x/model.safetensors') == '/x/model.safetensors'
    loaded = load_checkpoint(REAL_CHECKPOINT)
    assert loaded.model.arch['ego_box'] == [-1.0, -1.1, -1.0, 3.6, 1.1, 2.5]
    assert loaded.model.arch['camera_reach'] == [2, 2]  # camera features only near LiDAR returns
    assert loaded.config.inference.unknown_temperature == 0.1
    demo = load_checkpoint(DEMO_CHECKPOINT)  # stage 3 trained with the vehicle's own returns left out too
    assert demo.model.arch['ego_box'] == loaded.model.arch['ego_box']
    assert 'camera_reach' not in demo.model.arch  # the synthetic default reads images everywhere
    inference = demo.config.inference  # the choices made on validation towns (BENCHMARKS.md)
    assert (inference.unknown_temperature, inference.unknown_norm_weight) == (0.2, 0.15)
    assert (inference.occupancy_threshold, inference.prompt_projection) == (0.65, True)
    assert demo.config.text.templates == ('{}', 'a {}', '{} in a city')
    assert loaded.config.inference.prompt_projection is False  # the real checkpoint's choices are its own
    assert demo.config.train.class_names == 'many'


def test_lidar_input_ignores_returns_inside_the_ego_box():
    grid = VoxelGrid()
    roof = [1.0, 0.0, 1.5]  # on the vehicle's roof
    street = [10.0, 0.0, 0.1]
    points = torch.tensor([roof, street], dtype=torch.float32)
    box = (-1.0, -1.1, -1.0, 3.6, 1.1, 2.5)
    with_box = lidar_bev(points, grid, box)
    without = lidar_bev(points, grid)
    i, j, k = (np.floor((np.array(roof) - np.array(grid.lower)) / grid.voxel_size)).astype(int)
    assert without[i, j, k] == 1 and with_box[i, j, k] == 0
    i, j, k = (np.floor((np.array(street) - np.array(grid.lower)) / grid.voxel_size)).astype(int)
    assert with_box[i, j, k] == 1 and with_box[..., :-1].sum() == 1


def test_node_settings_accept_the_shipped_names():
    from loc_ros.predictor_backend import model_config

    prompts = ['car', 'road']
    real = model_config({'checkpoint': 'real', 'prompts': prompts})
    assert real.inference.checkpoint == 'real'
    demo = model_config({'checkpoint': 'demo', 'prompts': prompts})
    # each takes its own checkpoint's calibrated threshold
    assert real.inference.unknown_threshold == load_checkpoint(REAL_CHECKPOINT).config.inference.unknown_threshold
    assert demo.inference.unknown_threshold == load_checkpoint(DEMO_CHECKPOINT).config.inference.unknown_threshold
    assert real.inference.unknown_threshold != demo.inference.unknown_threshold
    # and its own choices of how prompts are compared
    assert (demo.inference.prompt_projection, real.inference.prompt_projection) == (True, False)
    assert demo.text.templates == ('{}', 'a {}', '{} in a city')
