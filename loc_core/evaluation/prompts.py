"""Prompt-set variants for open-vocabulary evaluation. Every set is (prompts, Occ3D ids): the
classes are the same, only the words (synonyms) or the names and order (renamed) change, so a
model that really lives in the text space keeps its mIoU without retraining.

`validation_words` is a third word set for choices about the text side (templates, prompt
projection) on validation towns, so that the synonym and renamed sets stay tests: none of its
words is a training name or an evaluation word (test_class_names.py checks it)."""
from __future__ import annotations

from loc_core.data.vocabulary import OCC3D_CLASS_NAMES, OCC3D_PROMPTS, NUM_SEMANTIC_CLASSES

# One synonym per Occ3D class 0-16, never the training prompt itself.
SYNONYM_PROMPTS = (
    'miscellaneous object', 'road barrier', 'bike', 'coach', 'automobile', 'excavator', 'motorbike',
    'person', 'traffic pylon', 'semi-trailer', 'lorry', 'street', 'flat surface', 'footpath',
    'grass', 'house', 'trees',
)

# One more unseen word per Occ3D class 0-16, only for choices made on validation towns.
VALIDATION_WORD_PROMPTS = (
    'random item', 'roadblock', 'mountain bike', 'minibus', 'vehicle', 'front loader', 'dirt bike',
    'passerby', 'cone', 'horse trailer', 'semi truck', 'highway', 'paved area', 'footway', 'field',
    'apartment block', 'greenery',
)


def standard_set() -> tuple[tuple, tuple]:
    return tuple(OCC3D_PROMPTS), tuple(range(NUM_SEMANTIC_CLASSES))


def synonym_set() -> tuple[tuple, tuple]:
    return SYNONYM_PROMPTS, tuple(range(NUM_SEMANTIC_CLASSES))


def renamed_set() -> tuple[tuple, tuple]:
    """The dataset's own class names (underscores as spaces), in reverse order."""
    ids = tuple(reversed(range(NUM_SEMANTIC_CLASSES)))
    return tuple(OCC3D_CLASS_NAMES[i].replace('_', ' ') for i in ids), ids


def validation_word_set() -> tuple[tuple, tuple]:
    return VALIDATION_WORD_PROMPTS, tuple(range(NUM_SEMANTIC_CLASSES))


PROMPT_SETS = {'standard': standard_set, 'synonyms': synonym_set, 'renamed': renamed_set,
               'validation_words': validation_word_set}
