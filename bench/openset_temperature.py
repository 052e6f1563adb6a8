"""Open-set score vs match-score temperature: AUROC and FPR@95 of novel-object voxels against known
voxels, for the best cosine (T = 0) and its smooth maximum T log(sum exp(cos / T)) at several T.

Usage: .venv/bin/python bench/openset_temperature.py --seeds 500-531 [--frames-per-seed 5]
       [--checkpoint PATH] [--temperatures 0,0.04,0.06,0.08,0.1,0.12,0.13,0.14,0.15,0.17,0.2]
Pick T on validation towns (the shipped checkpoint's 0.10 came from seeds 500-531), then report it
on held-out towns (1000-1011). Voxels as in loc-eval: occupied in ground truth and prediction,
inside mask_camera, standard prompts. One predict per frame; every T is scored on the same cosines."""
import argparse

import numpy as np
import torch

from loc_core.data.frame_sources import parse_seeds, synthetic_frames
from loc_core.data.occ3d_io import NOVEL_ID_MIN
from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID
from loc_core.evaluation.openset import auroc, fpr_at_tpr
from loc_core.evaluation.prompts import PROMPT_SETS
from loc_core.inference.predictor import LocPredictor
from loc_core.models.heads import soft_best_similarity


def collect(predictor, frames):
    """-> ((K,P) float32 cosines of the scored voxels to the standard prompts, (K,) bool novel)."""
    prompts, ids = PROMPT_SETS['standard']()
    predictor.set_prompts(prompts, ids)
    text = predictor.prompt_embeddings
    cosines, novel = [], []
    for frame in frames:
        result = predictor.predict(frame, with_features=True)
        labels = frame.occupancy
        i, j, k = result.occupied_indices.T
        truth = labels.semantics_open[i, j, k]
        keep = labels.mask_camera[i, j, k].astype(bool) & (truth != FREE_ID) & (truth != UNLABELLED_ID)
        cosines.append(result.similarities(text)[keep])
        novel.append(truth[keep] >= NOVEL_ID_MIN)
    return np.concatenate(cosines), np.concatenate(novel)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--seeds', required=True)
    parser.add_argument('--frames-per-seed', type=int, default=5)
    parser.add_argument('--checkpoint')
    parser.add_argument('--temperatures', default='0,0.04,0.06,0.08,0.1,0.12,0.13,0.14,0.15,0.17,0.2')
    args = parser.parse_args()
    predictor = LocPredictor(checkpoint=args.checkpoint)
    cosines, novel = collect(predictor, synthetic_frames(parse_seeds(args.seeds), args.frames_per_seed))
    print(f'seeds {args.seeds} x {args.frames_per_seed} frames, checkpoint {predictor.checkpoint_path}: '
          f'{int(novel.sum())} novel / {int((~novel).sum())} known voxels')
    print('| T | AUROC | FPR@95 |\n| --- | --- | --- |')
    for temperature in (float(t) for t in args.temperatures.split(',')):
        unknown_score = -soft_best_similarity(torch.from_numpy(cosines), temperature).numpy()
        print(f'| {temperature:g} | {auroc(unknown_score, novel):.3f} | {fpr_at_tpr(unknown_score, novel):.3f} |')


if __name__ == '__main__':
    main()
