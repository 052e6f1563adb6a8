"""Tiny labelled Frames for model tests (a 32x32x8 grid, two 64x32 cameras): ground, a car, a
pedestrian and a novel object, with LiDAR points on the occupied voxels and dense labels."""
import numpy as np

from loc_core.config import GridConfig, LocConfig, ModelConfig, TrainConfig
from loc_core.data.frame import CameraView, Frame
from loc_core.data.occ3d_io import Occ3DLabels
from loc_core.data.vocabulary import FREE_ID, OCC3D_COLORS
from loc_core.geometry.transforms import make_transform
from loc_core.geometry.voxel_grid import VoxelGrid

TOY_GRID = GridConfig(point_range=(-6.4, -6.4, -1.0, 6.4, 6.4, 2.2), voxel_size=0.4)
TOY_ARCH = {'image_size': [64, 32], 'image_channels': 8, 'bev_channels': 16, 'trunk_width': 16,
            'language_hidden': 32, 'language_channels': 16}
NOVEL_ID = 20


def toy_config(backbone: str = 'fusion_small', **train) -> LocConfig:
    train = {'steps': 10, 'batch_size': 2, 'voxels_per_frame': 256, 'log_every': 1, **train}
    return LocConfig(grid=TOY_GRID, model=ModelConfig(backbone, dict(TOY_ARCH)), train=TrainConfig(**train))


def _cameras(rng, image_size=(64, 32)):
    width, height = image_size
    k = np.array([[width / 2, 0, width / 2], [0, width / 2, height / 2], [0, 0, 1]], float)
    # optical frame (x right, y down, z forward) looking along +x (front) and -x (back) of the ego
    front = np.array([[0, 0, 1, 0.5], [-1, 0, 0, 0], [0, -1, 0, 1.5], [0, 0, 0, 1]], float)
    back = make_transform([0, 0, 0], [0, 0, 0, 1]) @ front  # yaw 180 degrees
    back[:3, 3] = (-0.5, 0, 1.5)
    cams = []
    for name, pose in (('CAM_FRONT', front), ('CAM_BACK', back)):
        image = rng.integers(0, 255, (height, width, 3), dtype=np.uint8)
        cams.append(CameraView(name, image, k, pose))
    return cams


def toy_frame(seed: int, with_labels: bool = True) -> Frame:
    rng = np.random.default_rng(seed)
    grid = VoxelGrid(TOY_GRID.point_range, TOY_GRID.voxel_size)
    nx, ny, nz = grid.shape
    open_ids = np.full(grid.shape, FREE_ID, np.uint8)
    open_ids[:, :, 0] = 11
    open_ids[nx // 2:, :, 0] = 14
    for cls, (sx, sy, sz) in ((4, (5, 4, 3)), (7, (1, 1, 4)), (NOVEL_ID, (2, 2, 2))):
        x0, y0 = rng.integers(1, nx - sx - 1), rng.integers(1, ny - sy - 1)
        open_ids[x0:x0 + sx, y0:y0 + sy, 1:1 + sz] = cls
    occupied = np.argwhere(open_ids != FREE_ID)
    centres = grid.index_to_center(occupied) + rng.uniform(-0.15, 0.15, (len(occupied), 3))
    lidar_to_ego = make_transform([0, 0, 1.8], [1, 0, 0, 0])
    points = (centres - lidar_to_ego[:3, 3]).astype(np.float32)
    semantics = np.where(open_ids >= NOVEL_ID, 0, open_ids).astype(np.uint8)
    labels = Occ3DLabels(semantics, np.ones(grid.shape, np.uint8), np.ones(grid.shape, np.uint8), open_ids)
    cams = _cameras(rng)
    for cam in cams:  # paint a class colour so the images carry some signal
        cam.image[:] = (cam.image // 4 + OCC3D_COLORS[int(rng.integers(0, 17))] // 2).astype(np.uint8)
    return Frame(timestamp_ns=seed * 100_000_000, points=points, intensity=np.zeros(len(points), np.float32),
                 lidar_to_ego=lidar_to_ego, ego_to_world=np.eye(4), cameras=cams,
                 occupancy=labels if with_labels else None, scene='toy', token=f'toy{seed}')


def ddp_worker(rank: int, world: int, init_file: str, out_dir: str, steps: int, train: dict) -> None:
    """Body of one data-parallel training process (spawned by the DDP test): trains on toy frames and
    rank 0 saves its checkpoint under out_dir."""
    import torch.distributed as dist

    from loc_core.train.samples import TrainingSample
    from loc_core.train.trainer import Trainer

    dist.init_process_group('gloo', init_method=f'file://{init_file}', rank=rank, world_size=world)
    try:
        samples = [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(4)]
        trainer = Trainer(toy_config(**train), samples, out_dir, rank=rank, world=world)
        trainer.run(steps)
    finally:
        dist.destroy_process_group()
