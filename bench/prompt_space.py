"""Choices about the text side on validation towns only: closed-set mIoU of the standard prompts and
of the validation word set (one unseen word per class, `loc_core.evaluation.prompts`) for every
template set x prompt projection (off / on, `inference.prompt_projection`). The synonym and renamed
sets take no part; they are scored once, on held-out towns, by bench/openset_eval.py.

Usage: .venv/bin/python bench/prompt_space.py [--checkpoint PATH] [--seeds 90000-90011]
       [--frames-per-seed 2] [--extra-novel 12] [--json-out out/prompt_space.json]

Rule: the variant with the best validation-word mIoU whose standard-prompt mIoU is at most 0.5 below
the checkpoint's own variant (its templates, no projection). Each frame is predicted once; every
variant classifies the same occupied voxels (argmax of the cosines, no unknown rejection), so the
variants differ only in their words' embeddings. Voxels as in loc-eval (inside mask_camera)."""
import argparse
import json
import time

import numpy as np

from loc_core.data.vocabulary import FREE_ID
from loc_core.evaluation.metrics import OccupancyMetrics
from loc_core.evaluation.prompts import PROMPT_SETS
from loc_core.inference.predictor import LocPredictor

import validation_towns

EXTRA_TEMPLATES = {'street': ('a {} in a street scene', 'the {} next to the road'), 'city': ('{} in a city',)}
SETS = ('standard', 'validation_words')
STANDARD_TOLERANCE = 0.5


def variants(own_templates) -> dict:
    """name -> (templates: the checkpoint's own, then extra ones it lacks, projection)."""
    chosen = {}
    for name, extra in {'checkpoint': (), **EXTRA_TEMPLATES}.items():
        templates = tuple(dict.fromkeys(tuple(own_templates) + extra))
        for projection in (False, True):
            chosen[f'{name}{" + projection" if projection else ""}'] = (templates, projection)
    return chosen


def embeddings(predictor, templates, projection) -> dict:
    """prompt set -> ((P,D) float32 unit embeddings, (P,) weights on their cosines when the label is
    chosen, (P,) Occ3D ids), made by the predictor itself (`LocPredictor.set_prompts`) with these
    templates and projection; the predictor's settings and prompts are restored afterwards."""
    text, inference = predictor.config.text, predictor.config.inference
    saved = (text.templates, inference.prompt_projection, predictor.prompts, predictor.class_ids)
    out = {}
    try:
        text.templates, inference.prompt_projection = templates, projection
        for name in SETS:
            words, ids = PROMPT_SETS[name]()
            predictor.set_prompts(words, ids)
            out[name] = (predictor.prompt_embeddings, predictor.prompt_label_weights, np.asarray(ids))
    finally:
        text.templates, inference.prompt_projection = saved[:2]
        predictor.set_prompts(*saved[2:])
    return out


def choose(rows: list) -> dict:
    """The row with the best validation-word mIoU among those whose standard mIoU is at most
    STANDARD_TOLERANCE below the first row's (the checkpoint as it is); the earlier row on a tie."""
    floor = rows[0]['standard'] - STANDARD_TOLERANCE
    return max((r for r in rows if r['standard'] >= floor), key=lambda r: r['validation_words'])


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    validation_towns.add_arguments(parser)
    parser.add_argument('--json-out')
    args = parser.parse_args()
    start = time.perf_counter()
    predictor = LocPredictor(checkpoint=args.checkpoint)
    table = {name: embeddings(predictor, *spec) for name, spec in variants(predictor.config.text.templates).items()}
    meters = {(v, s): OccupancyMetrics() for v in table for s in SETS}
    frames = 0
    for frame in validation_towns.frames(args):
        result = predictor.predict(frame, with_features=True)
        occupied = tuple(result.occupied_indices.T)
        for variant, sets in table.items():
            for name, (text, weights, ids) in sets.items():
                semantics = np.full(result.labels.shape, FREE_ID, np.uint8)
                semantics[occupied] = ids[np.argmax(result.similarities(text) * weights, axis=1)]
                meters[variant, name].add(semantics, frame.occupancy.semantics, frame.occupancy.mask_camera)
        frames += 1
    rows = [{'variant': v, **{s: round(meters[v, s].miou(), 2) for s in SETS}} for v in table]
    chosen = choose(rows)
    print(f'validation towns {args.seeds} x {args.frames_per_seed}: {frames} frames   '
          f'[{time.perf_counter() - start:.0f} s]')
    print('| variant | templates | standard mIoU | validation-word mIoU |')
    print('| --- | --- | --- | --- |')
    for row, (templates, _) in zip(rows, variants(predictor.config.text.templates).values()):
        print(f'| {row["variant"]} | {", ".join(repr(t) for t in templates)} | {row["standard"]:.1f} | '
              f'{row["validation_words"]:.1f} |')
    print(f'chosen: {chosen["variant"]}')
    if args.json_out:
        with open(args.json_out, 'w') as handle:
            json.dump({'seeds': args.seeds, 'frames': frames, 'rows': rows, 'chosen': chosen['variant']}, handle, indent=1)


if __name__ == '__main__':
    main()
