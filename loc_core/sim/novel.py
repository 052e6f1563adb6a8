"""Novel object classes of the synthetic world: object types that no training label ever names.

In `Frame`s they are class 0 ("others") everywhere Occ3D has a label (points, pixels, boxes,
`semantics`); only `Occ3DLabels.semantics_open` keeps their own id (>= NOVEL_ID_MIN = 20), so
open-set recognition can be scored against them.

Two ways into a town (see `SimConfig`): the first five kinds (`SCENE_NOVEL_ASSETS`, ids 20-24) come
with `novel_probability` / `novel_count`, drawn from the town's own random stream as they always
were; `novel_extra_count` adds that many more objects of any kind in `novel_objects` to every town,
drawn from a separate stream (`NOVEL_STREAM_KEY`), so the rest of a seed's town is unchanged by it."""
from __future__ import annotations

from loc_core.data.occ3d_io import NOVEL_ID_MIN

NOVEL_CLASSES: dict[int, str] = {
    20: 'stroller',
    21: 'shopping cart',
    22: 'dog',
    23: 'tyre',
    24: 'bench',
    25: 'wheelbarrow',
    26: 'mailbox',
    27: 'statue',
    28: 'vending machine',
    29: 'kick scooter',
    30: 'hay bale',
    31: 'portable toilet',
    32: 'sofa',
    33: 'playground slide',
    34: 'horse',
}
NOVEL_ASSETS: dict[str, int] = {  # asset name in the world -> novel id
    'stroller': 20,
    'shopping_cart': 21,
    'dog': 22,
    'tyre': 23,
    'bench': 24,
    'wheelbarrow': 25,
    'mailbox': 26,
    'statue': 27,
    'vending_machine': 28,
    'kick_scooter': 29,
    'hay_bale': 30,
    'portable_toilet': 31,
    'sofa': 32,
    'playground_slide': 33,
    'horse': 34,
}
# the kinds `novel_probability` / `novel_count` place (the original set: their placement, and so
# every town built with the defaults, is unchanged since the set grew)
SCENE_NOVEL_ASSETS = ('stroller', 'shopping_cart', 'dog', 'tyre', 'bench')
# spawn key of the random stream of `novel_extra_count` objects: SeedSequence(seed, spawn_key=(key,))
NOVEL_STREAM_KEY = 0x6E6F76  # 'nov'
assert min(NOVEL_CLASSES) >= NOVEL_ID_MIN
assert set(NOVEL_ASSETS.values()) == set(NOVEL_CLASSES) and set(SCENE_NOVEL_ASSETS) <= set(NOVEL_ASSETS)
