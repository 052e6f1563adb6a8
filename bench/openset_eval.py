"""The open-set protocol on towns nobody tuned on: the match-score temperature T and the unknown
threshold chosen on validation towns, then mIoU, AUROC and FPR@95 (median and 95 % bootstrap interval
over whole towns) for every prompt set, RayIoU from SparseOcc's origins, and novel voxel counts per
kind, on held-out towns.

Usage: .venv/bin/python bench/openset_eval.py [--checkpoint PATH] [--validation-seeds 90000-90011]
       [--validation-frames 2] [--seeds 80000-80023] [--frames-per-seed 3] [--extra-novel 12]
       [--resamples 1000] [--json-out out/openset_eval.json]

Towns: the simulator with `novel_extra_count` extra novel objects per town (their own random stream:
everything else in a town is what the seed gives by default). Validation towns hold only the first
five novel kinds (ids 20-24, the ones training towns also hold, as "others"); held-out towns hold all
fifteen, so the ten newer kinds (25-34) take part in no choice at all. Seed ranges: training used
0-125 (demo checkpoint) and 0-39 (real-sensor checkpoint), earlier T choices 500-531, earlier held-out
sets 100-103 and 1000-1011; 90000-90011 (validation) and 80000-80023 (held-out) are used nowhere else.

Protocol. Validation: one prediction per frame; the scored voxels (occupied in ground truth and
prediction, inside mask_camera, as loc-eval) get their cosines to the standard prompts and the
lengths |W h| of their features before normalisation; the match score's temperature T and norm
weight a (score = T log sum exp(cos / T) + a ln|W h|) are the grid pair with the best AUROC (the
smaller T, then a, on a tie), and the unknown threshold is the match score below which 5 % of the
known voxels fall (the training calibration's rule, keep 0.95).
Held-out, pass 1: standard, synonyms and renamed prompts with that T and threshold (the threshold
rejects on the standard prompts only; the others are labelled closed-set, their unknown scores still
ranked), bootstrap over towns. Then the standard prompts' open set split by kind group (20-24 vs
25-34), at the chosen (T, a) and, for comparison only, at the chosen T without the norm term, the
shipped pair and the best cosine (T = 0, a = 0). Last,
standard prompts without rejection (known-class mIoU) and RayIoU. The held-out frames are generated
once and kept in memory for all passes."""
import argparse
import collections
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from loc_core.data.frame_sources import parse_seeds, synthetic_frames
from loc_core.data.occ3d_io import NOVEL_ID_MIN
from loc_core.data.vocabulary import FREE_ID, UNLABELLED_ID
from loc_core.evaluation.bootstrap import bootstrap_open_set
from loc_core.evaluation.cli import evaluate_with_extras, synthetic_scene_poses
from loc_core.evaluation.openset import auroc, fpr_at_tpr, score_histograms
from loc_core.evaluation.prompts import PROMPT_SETS
from loc_core.inference.predictor import LocPredictor
from loc_core.models.heads import LanguageHead, norm_bonus, soft_best_similarity
from loc_core.models.inputs import frame_to_input
from loc_core.sim.config import SimConfig
from loc_core.sim.novel import NOVEL_CLASSES, SCENE_NOVEL_ASSETS

TEMPERATURES = (0.0, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.17, 0.2)
NORM_WEIGHTS = (0.0, 0.05, 0.1, 0.15, 0.2, 0.3)
KEEP_KNOWN = 0.95
SETS = ('standard', 'synonyms', 'renamed')


@torch.inference_mode()
def validation_cosines(predictor, frames):
    """-> ((K,P) cosines of the scored voxels to the standard prompts, (K,) lengths |W h| of their
    features before normalisation, (K,) bool novel, frames)."""
    prompts, ids = PROMPT_SETS['standard']()
    predictor.set_prompts(prompts, ids)
    model, operator = predictor.model, predictor._prompts.operator
    cosines, norms, novel, count = [], [], [], 0
    for frame in frames:
        result = predictor.predict(frame, with_features=False)
        labels = frame.occupancy
        i, j, k = result.occupied_indices.T
        truth = labels.semantics_open[i, j, k]
        keep = labels.mask_camera[i, j, k].astype(bool) & (truth != FREE_ID) & (truth != UNLABELLED_ID)
        voxels = torch.from_numpy(result.occupied_indices[keep]).to(predictor.device)
        encoded = model.encode([frame_to_input(frame, model.image_size, predictor.device)])
        hidden = model.voxel_hidden(encoded, torch.zeros(len(voxels), dtype=torch.int64, device=voxels.device), voxels)
        dots, norm = LanguageHead.dots_and_norm(hidden, operator)
        cosines.append((dots / norm[:, None]).float().cpu().numpy())
        norms.append(norm.float().cpu().numpy())
        novel.append(truth[keep] >= NOVEL_ID_MIN)
        count += 1
    return np.concatenate(cosines), np.concatenate(norms), np.concatenate(novel), count


def choose_match_score(cosines, norms, novel):
    """-> (T, a, threshold, rows): the best-AUROC pair of TEMPERATURES x NORM_WEIGHTS (the smaller
    T, then the smaller a, on a tie) and its unknown threshold; rows (T, a, AUROC, FPR@95)."""
    rows, best = [], None
    cosines, norms = torch.from_numpy(cosines), torch.from_numpy(norms)
    for temperature in TEMPERATURES:
        smooth = soft_best_similarity(cosines, temperature)
        for weight in NORM_WEIGHTS:
            match = (smooth + norm_bonus(norms, weight)).numpy() if weight else smooth.numpy()
            a, f = auroc(-match, novel), fpr_at_tpr(-match, novel)
            rows.append((temperature, weight, a, f))
            if best is None or a > best[2] + 1e-12:
                best = (temperature, weight, a, float(np.quantile(match[~novel], 1.0 - KEEP_KNOWN)))
    return best[0], best[1], best[3], rows


def open_set_by_group(predictor, frames, resamples):
    """Standard prompts at the predictor's T: AUROC / FPR@95 (median [interval] over towns) of the
    first five novel kinds (20-24, which training towns also hold, as "others") and of the ten newer
    ones (25-34, in no training or validation town), each against all known voxels (loc-eval's voxels)."""
    prompts, ids = PROMPT_SETS['standard']()
    predictor.set_prompts(prompts, ids)
    groups = {'kinds 20-24': lambda v: (v >= 20) & (v <= 24), 'kinds 25-34': lambda v: v >= 25}
    towns = {name: collections.defaultdict(int) for name in groups}
    for frame in frames:
        result, labels = predictor.predict(frame), frame.occupancy
        truth = labels.semantics_open
        keep = labels.mask_camera.astype(bool) & (truth != FREE_ID) & (truth != UNLABELLED_ID) & result.occupied
        unknown, kind = 1.0 - result.scores[keep], truth[keep]
        for name, member in groups.items():
            chosen = (kind < NOVEL_ID_MIN) | member(kind)
            counts = score_histograms(unknown[chosen], member(kind[chosen]))
            towns[name][frame.scene] = towns[name][frame.scene] + counts
    out = {}
    for name, per_town in towns.items():
        hist = list(per_town.values())
        interval = bootstrap_open_set(hist, n=resamples)
        out[name] = {'novel_voxels': int(sum(h[1].sum() for h in hist)),
                     **{key: dict(zip(('median', 'low', 'high'), interval[key])) for key in ('auroc', 'fpr95')}}
    return out


def counting(frames, counts):
    """Pass frames through, adding each frame's novel voxels per kind (ground truth, inside
    mask_camera) to `counts`."""
    for frame in frames:
        labels = frame.occupancy
        ids = labels.semantics_open[(labels.semantics_open >= NOVEL_ID_MIN) & labels.mask_camera.astype(bool)]
        counts.update(ids.tolist())
        yield frame


def fmt_interval(values, scale=1.0, digits=3):
    if values['median'] is None:
        return 'n/a'
    return (f'{values["median"] * scale:.{digits}f} [{values["low"] * scale:.{digits}f}, '
            f'{values["high"] * scale:.{digits}f}]')


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--checkpoint')
    parser.add_argument('--validation-seeds', default='90000-90011')
    parser.add_argument('--validation-frames', type=int, default=2)
    parser.add_argument('--seeds', default='80000-80023')
    parser.add_argument('--frames-per-seed', type=int, default=3)
    parser.add_argument('--extra-novel', type=int, default=12, help='novel_extra_count of every town')
    parser.add_argument('--resamples', type=int, default=1000)
    parser.add_argument('--json-out')
    args = parser.parse_args()
    start = time.perf_counter()
    predictor = LocPredictor(checkpoint=args.checkpoint)
    inference = predictor.config.inference
    shipped = (inference.unknown_temperature, inference.unknown_norm_weight)

    validation = SimConfig(novel_extra_count=args.extra_novel, novel_objects=SCENE_NOVEL_ASSETS)
    val_seeds = parse_seeds(args.validation_seeds)
    cosines, norms, novel, val_frames = validation_cosines(
        predictor, synthetic_frames(val_seeds, args.validation_frames, config=validation))
    temperature, weight, threshold, rows = choose_match_score(cosines, norms, novel)
    print(f'checkpoint {predictor.checkpoint_path}; shipped T {shipped[0]:g}, norm weight {shipped[1]:g}, '
          f'threshold {inference.unknown_threshold:.4f}')
    print(f'validation towns {args.validation_seeds} x {args.validation_frames} frames ({val_frames} frames; '
          f'novel kinds 20-24 only): {int(novel.sum())} novel / {int((~novel).sum())} known voxels')
    print('| T | norm weight a | AUROC | FPR@95 |\n| --- | --- | --- | --- |')
    for t, w, a, f in rows:
        print(f'| {t:g} | {w:g} | {a:.3f} | {f:.3f} |')
    print(f'chosen on validation: T {temperature:g}, norm weight {weight:g}, unknown threshold {threshold:.4f} '
          f'(keeps {KEEP_KNOWN:.0%} of known voxels)   [{time.perf_counter() - start:.0f} s]')

    held_out = SimConfig(novel_extra_count=args.extra_novel)
    seeds = parse_seeds(args.seeds)
    kinds = collections.Counter()
    frames = list(counting(synthetic_frames(seeds, args.frames_per_seed, config=held_out), kinds))
    print(f'held-out towns {args.seeds} x {args.frames_per_seed} frames: {len(frames)} frames, '
          f'{sum(kinds.values())} novel voxels in ground truth inside mask_camera, per kind: '
          + ', '.join(f'{NOVEL_CLASSES[k]} {kinds[k]}' for k in sorted(NOVEL_CLASSES))
          + f'   [{time.perf_counter() - start:.0f} s]')

    chosen = (temperature, weight)
    inference.unknown_temperature, inference.unknown_norm_weight = chosen
    inference.unknown_threshold = threshold
    predictor.config.validate()
    rejecting = evaluate_with_extras(predictor, frames, SETS, bootstrap=args.resamples)
    groups = open_set_by_group(predictor, frames, args.resamples)
    reference = {}
    for pair in sorted({(0.0, 0.0), (temperature, 0.0), shipped} - {chosen}):  # for comparison only
        inference.unknown_temperature, inference.unknown_norm_weight = pair
        reference[pair] = open_set_by_group(predictor, frames, args.resamples)
    inference.unknown_temperature, inference.unknown_norm_weight = chosen
    inference.unknown_threshold = -1.0
    closed = evaluate_with_extras(predictor, frames, ('standard',), rayiou=True,
                                  scene_poses=synthetic_scene_poses(seeds, args.frames_per_seed, held_out),
                                  bootstrap=args.resamples)
    print(f'held-out, T {temperature:g}, norm weight {weight:g}; median [95 % interval] over {len(seeds)} towns, {args.resamples} '
          f'resamples   [{time.perf_counter() - start:.0f} s]')
    print('| prompts | mIoU | AUROC | FPR@95 | novel / known voxels |')
    print('| --- | --- | --- | --- | --- |')
    for name in SETS:
        r, b = rejecting[name], rejecting[name]['bootstrap']
        print(f'| {name} | {fmt_interval(b["miou"], 1, 1)} | {fmt_interval(b["auroc"])} | '
              f'{fmt_interval(b["fpr95"])} | {r["open_set"]["novel_voxels"]} / {r["open_set"]["known_voxels"]} |')
    print('(mIoU: standard prompts rejecting unknown voxels (-> others), synonyms and renamed closed-set)')
    print(f'known-class mIoU (standard, no rejection): {fmt_interval(closed["standard"]["bootstrap"]["miou"], 1, 1)}')
    for (t, w), result in [(chosen, groups), *reference.items()]:
        label = 'chosen' if (t, w) == chosen else 'shipped' if (t, w) == shipped else \
            'best cosine' if (t, w) == (0.0, 0.0) else 'chosen T without the norm term'
        print(f'standard prompts, T {t:g}, norm weight {w:g} ({label}): ' + '; '.join(
            f'{name} ({g["novel_voxels"]} novel voxels) AUROC {fmt_interval(g["auroc"])}, FPR@95 '
            f'{fmt_interval(g["fpr95"])}' for name, g in result.items()))
    ray = closed['standard']['rayiou']
    print(f'RayIoU (standard prompts, no rejection, SparseOcc origins): {ray["rayiou"]:.1f} '
          f'(@1m {ray["rayiou_1m"]:.1f}, @2m {ray["rayiou_2m"]:.1f}, @4m {ray["rayiou_4m"]:.1f}; '
          f'{ray["rays"]} rays, {ray["frames"]} frames)')
    print(f'pooled point values: mIoU rejecting {rejecting["standard"]["miou"]:.1f}, known-class '
          f'{closed["standard"]["miou"]:.1f}, geometry IoU {closed["standard"]["geometry_iou"]:.1f}; '
          f'total {time.perf_counter() - start:.0f} s')
    if args.json_out:
        Path(args.json_out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json_out).write_text(json.dumps({
            'args': vars(args), 'temperature': temperature, 'norm_weight': weight, 'threshold': threshold,
            'validation': {'rows': rows, 'novel': int(novel.sum()), 'known': int((~novel).sum())},
            'novel_voxels_per_kind': {NOVEL_CLASSES[k]: kinds[k] for k in sorted(NOVEL_CLASSES)},
            'by_kind_group': groups, 'reference_match_scores': {f'T {t:g}, a {w:g}': r for (t, w), r in reference.items()},
            'rejecting': rejecting, 'closed': closed}, sort_keys=True, default=float))
    return 0


if __name__ == '__main__':
    sys.exit(main())
