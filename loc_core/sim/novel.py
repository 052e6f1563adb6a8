"""Novel object classes of the synthetic world: object types that no training label ever names.

In `Frame`s they are class 0 ("others") everywhere Occ3D has a label (points, pixels, boxes,
`semantics`); only `Occ3DLabels.semantics_open` keeps their own id (>= NOVEL_ID_MIN = 20), so
open-set recognition can be scored against them."""
from __future__ import annotations

from loc_core.data.occ3d_io import NOVEL_ID_MIN

NOVEL_CLASSES: dict[int, str] = {
    20: 'stroller',
    21: 'shopping cart',
    22: 'dog',
    23: 'tyre',
    24: 'bench',
}
NOVEL_ASSETS: dict[str, int] = {  # asset name in the world -> novel id
    'stroller': 20,
    'shopping_cart': 21,
    'dog': 22,
    'tyre': 23,
    'bench': 24,
}
assert min(NOVEL_CLASSES) >= NOVEL_ID_MIN
