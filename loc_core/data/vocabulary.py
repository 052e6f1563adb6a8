"""The Occ3D-nuScenes vocabulary: ids 0-17 (17 = free), names, prompts, display colours, and the
mapping from nuScenes categories to Occ3D ids."""
from __future__ import annotations

import numpy as np

OCC3D_CLASS_NAMES = (
    'others', 'barrier', 'bicycle', 'bus', 'car', 'construction_vehicle', 'motorcycle',
    'pedestrian', 'traffic_cone', 'trailer', 'truck', 'driveable_surface', 'other_flat',
    'sidewalk', 'terrain', 'manmade', 'vegetation', 'free',
)
FREE_ID = 17
UNLABELLED_ID = 255
NUM_CLASSES = 18  # including free
NUM_SEMANTIC_CLASSES = 17  # ids 0-16, those the Occ3D mIoU averages over
THING_IDS = tuple(range(1, 11))  # object classes that carry boxes in nuScenes
STUFF_IDS = tuple(range(11, 17))

# Plain-language text prompts for the semantic classes (what a user would type).
OCC3D_PROMPTS = (
    'other object', 'barrier', 'bicycle', 'bus', 'car', 'construction vehicle', 'motorcycle',
    'pedestrian', 'traffic cone', 'trailer', 'truck', 'road', 'flat ground', 'sidewalk',
    'terrain', 'building', 'vegetation',
)

# Display colours (RGB uint8), nuScenes-lidarseg's palette for ids 1-16.
OCC3D_COLORS = np.array([
    (160, 32, 240),   # 0 others
    (112, 128, 144),  # 1 barrier
    (220, 20, 60),    # 2 bicycle
    (255, 127, 80),   # 3 bus
    (255, 158, 0),    # 4 car
    (233, 150, 70),   # 5 construction_vehicle
    (255, 61, 99),    # 6 motorcycle
    (0, 0, 230),      # 7 pedestrian
    (47, 79, 79),     # 8 traffic_cone
    (255, 140, 0),    # 9 trailer
    (255, 99, 71),    # 10 truck
    (0, 207, 191),    # 11 driveable_surface
    (175, 0, 75),     # 12 other_flat
    (75, 0, 75),      # 13 sidewalk
    (112, 180, 60),   # 14 terrain
    (222, 184, 135),  # 15 manmade
    (0, 175, 0),      # 16 vegetation
    (255, 255, 255),  # 17 free
], dtype=np.uint8)
UNKNOWN_COLOR = np.array((255, 0, 255), dtype=np.uint8)

# nuScenes category (or any prefix of it) -> Occ3D id. `vehicle.ego` maps to None (removed).
NUSCENES_CATEGORY_TO_OCC3D = {
    'animal': 0,
    'human.pedestrian.personal_mobility': 0,
    'human.pedestrian.stroller': 0,
    'human.pedestrian.wheelchair': 0,
    'human.pedestrian': 7,
    'movable_object.barrier': 1,
    'movable_object.debris': 0,
    'movable_object.pushable_pullable': 0,
    'movable_object.trafficcone': 8,
    'static_object.bicycle_rack': 0,
    'vehicle.bicycle': 2,
    'vehicle.bus': 3,
    'vehicle.car': 4,
    'vehicle.construction': 5,
    'vehicle.emergency.ambulance': 10,
    'vehicle.emergency.police': 4,
    'vehicle.motorcycle': 6,
    'vehicle.trailer': 9,
    'vehicle.truck': 10,
    'vehicle.ego': None,
    'flat.driveable_surface': 11,
    'flat.other': 12,
    'flat.sidewalk': 13,
    'flat.terrain': 14,
    'static.manmade': 15,
    'static.other': 0,
    'static.vegetation': 16,
    'noise': UNLABELLED_ID,
}


def nuscenes_category_to_occ3d(category: str):
    """nuScenes category name -> Occ3D id (int), None for the ego vehicle. The longest matching
    prefix wins (e.g. 'human.pedestrian.stroller' before 'human.pedestrian')."""
    parts = category.split('.')
    for n in range(len(parts), 0, -1):
        key = '.'.join(parts[:n])
        if key in NUSCENES_CATEGORY_TO_OCC3D:
            return NUSCENES_CATEGORY_TO_OCC3D[key]
    raise KeyError(f'unknown nuScenes category {category!r}')


def class_id(name: str) -> int:
    """Occ3D class name -> id; a clear error for an unknown name."""
    try:
        return OCC3D_CLASS_NAMES.index(name)
    except ValueError:
        raise ValueError(f'unknown Occ3D class {name!r}; known: {", ".join(OCC3D_CLASS_NAMES)}') from None


def colorize(labels) -> np.ndarray:
    """(...) uint8 label ids -> (..., 3) uint8 RGB; ids outside 0-17 get the unknown colour."""
    labels = np.asarray(labels)
    out = np.empty(labels.shape + (3,), dtype=np.uint8)
    known = labels < len(OCC3D_COLORS)
    out[known] = OCC3D_COLORS[labels[known]]
    out[~known] = UNKNOWN_COLOR
    return out
