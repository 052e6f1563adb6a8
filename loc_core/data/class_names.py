"""Several names per Occ3D class for training (LOcc maps 35 query words onto the Occ3D classes).

With `train.class_names: many` each training step gives every class one of its names, so the
voxel features learn to sit where any plain name of the class lands in the text space, not only
the one standard prompt. A user's own word for a class then tends to land near its voxels.

The first name of each class is its standard prompt (`OCC3D_PROMPTS`). No training name is one of
the words the evaluation uses for its synonym and renamed prompt sets (loc_core/evaluation/prompts.py)
unless it is the standard prompt itself, and no training name is a plural or singular of such a
word: those sets measure words the network never trained on (test_class_names.py checks it)."""
from __future__ import annotations

from loc_core.data.vocabulary import NUM_SEMANTIC_CLASSES, OCC3D_PROMPTS

# Occ3D id -> names; index 0 is the standard prompt.
TRAINING_NAMES: tuple[tuple[str, ...], ...] = (
    ('other object', 'unidentified object', 'clutter', 'obstacle', 'debris'),
    ('barrier', 'fence', 'guardrail', 'jersey barrier', 'crash barrier'),
    ('bicycle', 'cycle', 'pushbike', 'parked bicycle'),
    ('bus', 'city bus', 'omnibus', 'transit bus', 'double-decker'),
    ('car', 'passenger car', 'sedan', 'hatchback', 'taxi', 'SUV'),
    ('construction vehicle', 'bulldozer', 'crane', 'digger', 'backhoe'),
    ('motorcycle', 'scooter', 'moped', 'motor scooter'),
    ('pedestrian', 'human', 'walker', 'child', 'woman', 'man'),
    ('traffic cone', 'safety cone', 'road cone', 'orange cone'),
    ('trailer', 'cargo trailer', 'flatbed trailer', 'caravan'),
    ('truck', 'pickup truck', 'delivery truck', 'van', 'dump truck'),
    ('road', 'roadway', 'asphalt', 'carriageway', 'driving lane'),
    ('flat ground', 'parking lot', 'traffic island', 'median strip', 'plaza'),
    ('sidewalk', 'pavement', 'walkway', 'curb', 'pedestrian path'),
    ('terrain', 'lawn', 'soil', 'dirt', 'meadow', 'gravel'),
    ('building', 'wall', 'skyscraper', 'office block', 'pole'),
    ('vegetation', 'bush', 'hedge', 'shrub', 'foliage', 'plants'),
)

assert len(TRAINING_NAMES) == NUM_SEMANTIC_CLASSES
assert tuple(names[0] for names in TRAINING_NAMES) == tuple(OCC3D_PROMPTS)
