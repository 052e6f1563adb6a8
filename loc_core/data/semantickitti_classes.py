"""SemanticKITTI's raw label ids -> the Occ3D vocabulary, in ONE table.

A `.label` entry is uint32: the lower 16 bits the raw semantic id, the upper 16 bits the instance
id. The table below is the only place where SemanticKITTI classes meet Occ3D ids; each row gives
(raw id, SemanticKITTI name, Occ3D id, moving). Choices, where Occ3D has no exact counterpart:

* unlabeled (0) and outlier (1) -> 255 (unlabelled): neither names a surface class.
* moving-* (252-259) -> their static class; the `moving` column keeps the distinction so the
  dense-label stage can keep those points in their own scan instead of fusing them in the world.
* bicyclist / motorcyclist (31, 32 and moving-*) -> bicycle / motorcycle: the rider and the
  vehicle are one object to an occupancy grid (nuScenes' lidarseg labels a ridden bicycle's
  rider as a pedestrian; SemanticKITTI does not separate them, so the vehicle class is kept).
* on-rails (16, trams) and other-vehicle (20: trailers, caravans, anything else with wheels) ->
  others (0): Occ3D's trailer and construction_vehicle are narrower than what these hold.
* parking (44) and lane-marking (60) -> driveable_surface: nuScenes counts parking lots and road
  paint as driveable surface.
* other-ground (49: traffic islands, kerbs' flat tops, dirt paths) -> other_flat.
* building, fence, other-structure, pole, traffic-sign (50, 51, 52, 80, 81) -> manmade: nuScenes'
  static.manmade holds all of them (its 'barrier' is temporary road barriers, not fences).
* trunk (71) -> vegetation: nuScenes' static.vegetation includes trunks.
* other-object (99) -> others.

Ids not in the table (none in the official dataset) map to 255 and are counted by the caller."""
from __future__ import annotations

import numpy as np

from loc_core.data.vocabulary import UNLABELLED_ID

# raw id: (SemanticKITTI name, Occ3D id, moving)
SEMANTICKITTI_TO_OCC3D = {
    0: ('unlabeled', UNLABELLED_ID, False),
    1: ('outlier', UNLABELLED_ID, False),
    10: ('car', 4, False),
    11: ('bicycle', 2, False),
    13: ('bus', 3, False),
    15: ('motorcycle', 6, False),
    16: ('on-rails', 0, False),
    18: ('truck', 10, False),
    20: ('other-vehicle', 0, False),
    30: ('person', 7, False),
    31: ('bicyclist', 2, False),
    32: ('motorcyclist', 6, False),
    40: ('road', 11, False),
    44: ('parking', 11, False),
    48: ('sidewalk', 13, False),
    49: ('other-ground', 12, False),
    50: ('building', 15, False),
    51: ('fence', 15, False),
    52: ('other-structure', 15, False),
    60: ('lane-marking', 11, False),
    70: ('vegetation', 16, False),
    71: ('trunk', 16, False),
    72: ('terrain', 14, False),
    80: ('pole', 15, False),
    81: ('traffic-sign', 15, False),
    99: ('other-object', 0, False),
    252: ('moving-car', 4, True),
    253: ('moving-bicyclist', 2, True),
    254: ('moving-person', 7, True),
    255: ('moving-motorcyclist', 6, True),
    256: ('moving-on-rails', 0, True),
    257: ('moving-bus', 3, True),
    258: ('moving-truck', 10, True),
    259: ('moving-other-vehicle', 0, True),
}
# The raw ids of objects that carry instance ids (things), moving-* included. Instance ids count
# per raw class: person 1 and moving-person 1 are two different people (checked on sequence 07).
THING_RAW_IDS = (10, 11, 13, 15, 16, 18, 20, 30, 31, 32, 252, 253, 254, 255, 256, 257, 258, 259)

_LOOKUP_SIZE = 1 << 16
_OCC3D_LOOKUP = np.full(_LOOKUP_SIZE, UNLABELLED_ID, dtype=np.uint8)
_MOVING_LOOKUP = np.zeros(_LOOKUP_SIZE, dtype=bool)
_KNOWN_LOOKUP = np.zeros(_LOOKUP_SIZE, dtype=bool)
for _raw, (_name, _occ3d, _moving) in SEMANTICKITTI_TO_OCC3D.items():
    _OCC3D_LOOKUP[_raw], _MOVING_LOOKUP[_raw], _KNOWN_LOOKUP[_raw] = _occ3d, _moving, True
_THING_LOOKUP = np.isin(np.arange(_LOOKUP_SIZE), THING_RAW_IDS)


def decode_labels(raw) -> dict:
    """(N,) uint32 `.label` values -> dict of (N,) arrays:
    `occ3d` uint8 Occ3D ids (255 = unlabelled or unknown id), `moving` bool (a moving-* class),
    `instance` int32 object key (raw class id * 65536 + instance id, unique within a sequence;
    -1 for stuff classes and things without an instance id),
    `unknown` bool (a raw id outside the table)."""
    raw = np.asarray(raw, dtype=np.uint32)
    semantic = (raw & 0xFFFF).astype(np.int64)
    instance = (raw >> 16).astype(np.int64)
    is_object = _THING_LOOKUP[semantic] & (instance > 0)
    key = np.where(is_object, semantic * _LOOKUP_SIZE + instance, -1).astype(np.int32)
    return {'occ3d': _OCC3D_LOOKUP[semantic], 'moving': _MOVING_LOOKUP[semantic], 'instance': key,
            'unknown': ~_KNOWN_LOOKUP[semantic]}


def semantickitti_name(raw_id: int) -> str:
    """A raw semantic id's SemanticKITTI name; KeyError for ids outside the table."""
    return SEMANTICKITTI_TO_OCC3D[int(raw_id)][0]
