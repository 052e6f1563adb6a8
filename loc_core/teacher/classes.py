"""The teacher's class table: which output channels of a 2D segmenter were trained, what each one
is called, and which Occ3D id it becomes (or none: ignored).

A table is read from a JSON file (by default `classes.json` beside the ONNX model):

    {"classes": [{"name": "road"}, {"name": "sidewalk"}, ...],          # output channel order
     "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225],        # optional, RGB in [0, 1]
     "fit": "auto"}                                                      # optional: auto, resize, pad

Entry i describes output channel i; channels after the last entry are untrained and never enter
the softmax. An entry may name its Occ3D class itself (`"occ3d": "terrain"`, or `null` to ignore
it); otherwise its name is looked up in `CITYSCAPES_TO_OCC3D`. A name found in neither is an error.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from loc_core.data.vocabulary import NUM_SEMANTIC_CLASSES, OCC3D_CLASS_NAMES

IGNORE = None
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
FITS = ('auto', 'resize', 'pad')
# Column of a painted distribution that holds the ignored classes' probability (after ids 0-16).
IGNORE_COLUMN = NUM_SEMANTIC_CLASSES
NUM_COLUMNS = NUM_SEMANTIC_CLASSES + 1

# Cityscapes' 19 evaluation classes -> Occ3D-nuScenes class names, with the reason for each.
CITYSCAPES_TO_OCC3D = {
    'road': 'driveable_surface',    # the drivable carriageway, nuScenes' flat.driveable_surface
    'sidewalk': 'sidewalk',         # same meaning in both vocabularies
    'building': 'manmade',          # nuScenes puts buildings in static.manmade
    'wall': 'manmade',              # free-standing walls: static.manmade in nuScenes
    'fence': 'manmade',             # fences and railings are static.manmade (barrier is for temporary ones)
    'pole': 'manmade',              # poles, lamp posts and sign posts are static.manmade
    'traffic light': 'manmade',     # mounted on poles; static.manmade in nuScenes
    'traffic sign': 'manmade',      # likewise static.manmade
    'vegetation': 'vegetation',     # trees, hedges, bushes: static.vegetation
    'terrain': 'terrain',           # grass and soil beside the road: flat.terrain
    'sky': IGNORE,                  # no LiDAR return is sky: a point painted sky hit something in front
    'person': 'pedestrian',         # human.pedestrian
    'rider': 'bicycle',             # nuScenes boxes a cyclist with its bicycle; Cityscapes riders are mostly cyclists
    'car': 'car',                   # vehicle.car
    'truck': 'truck',               # vehicle.truck
    'bus': 'bus',                   # vehicle.bus
    'train': 'bus',                 # trams on the street; Occ3D has no rail class, the bus is the same shape and place
    'motorcycle': 'motorcycle',     # vehicle.motorcycle
    'bicycle': 'bicycle',           # vehicle.bicycle
}


class ClassTableError(ValueError):
    """A class table that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True)
class ClassTable:
    """`names` (C,) the trained output channels in order; `occ3d_ids` (C,) int, an Occ3D id 0-16 or
    -1 (ignored); `mean`/`std` RGB normalisation after dividing by 255; `fit` how an image meets
    the model's input ('resize' the whole image, 'pad' at the right and bottom, 'auto': pad when
    the image fits inside the input, else resize)."""

    names: tuple
    occ3d_ids: tuple
    mean: tuple = IMAGENET_MEAN
    std: tuple = IMAGENET_STD
    fit: str = 'auto'

    def __post_init__(self):
        if not self.names or len(self.names) != len(self.occ3d_ids):
            raise ClassTableError(f'class table: {len(self.names)} names for {len(self.occ3d_ids)} Occ3D ids')
        bad = [(n, i) for n, i in zip(self.names, self.occ3d_ids) if not -1 <= i < NUM_SEMANTIC_CLASSES]
        if bad:
            raise ClassTableError(f'class table: Occ3D ids out of range: {bad}')
        if len(self.mean) != 3 or len(self.std) != 3 or min(self.std) <= 0:
            raise ClassTableError(f'class table: mean and std need 3 values (std > 0), got {self.mean}, {self.std}')
        if self.fit not in FITS:
            raise ClassTableError(f'class table: fit must be one of {FITS}, got {self.fit!r}')

    @property
    def num_trained(self) -> int:
        return len(self.names)

    def to_columns(self) -> np.ndarray:
        """(C, 18) float32 0/1 matrix: trained channel -> painted column (Occ3D ids 0-16, then
        `IGNORE_COLUMN`); a channel's probability lands in exactly one column."""
        matrix = np.zeros((self.num_trained, NUM_COLUMNS), dtype=np.float32)
        for channel, occ3d in enumerate(self.occ3d_ids):
            matrix[channel, IGNORE_COLUMN if occ3d < 0 else occ3d] = 1.0
        return matrix

    def record(self) -> dict:
        """What the label settings file keeps of the table."""
        return {'names': list(self.names), 'occ3d_ids': list(self.occ3d_ids), 'mean': list(self.mean),
                'std': list(self.std), 'fit': self.fit}


def occ3d_id_of(name: str | None, where: str) -> int:
    """An Occ3D class name (or None = ignore) -> id 0-16, -1 for ignore."""
    if name is None:
        return -1
    if name not in OCC3D_CLASS_NAMES[:NUM_SEMANTIC_CLASSES]:
        raise ClassTableError(f'{where}: {name!r} is not an Occ3D class; known: '
                              f'{", ".join(OCC3D_CLASS_NAMES[:NUM_SEMANTIC_CLASSES])} (or null to ignore)')
    return OCC3D_CLASS_NAMES.index(name)


def load_class_table(path) -> ClassTable:
    """Read a class table JSON file (format in the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'teacher class table {path} not found (a classes.json beside the model, '
                                f'or give its path)')
    try:
        data = json.loads(path.read_text())
        entries = data['classes']
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ClassTableError(f'{path}: not a class table with a "classes" list ({exc})') from exc
    names, ids = [], []
    for index, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get('name'), str):
            raise ClassTableError(f'{path}: classes[{index}] needs a "name"')
        name = entry['name']
        where = f'{path}: classes[{index}] ({name})'
        if 'occ3d' in entry:
            ids.append(occ3d_id_of(entry['occ3d'], where))
        elif name in CITYSCAPES_TO_OCC3D:
            ids.append(occ3d_id_of(CITYSCAPES_TO_OCC3D[name], where))
        else:
            raise ClassTableError(f'{where}: no Occ3D class for this name; add "occ3d": NAME (or null to ignore)')
        names.append(name)
    try:
        return ClassTable(tuple(names), tuple(ids), tuple(data.get('mean', IMAGENET_MEAN)),
                          tuple(data.get('std', IMAGENET_STD)), data.get('fit', 'auto'))
    except ClassTableError as exc:
        raise ClassTableError(f'{path}: {exc}') from None
