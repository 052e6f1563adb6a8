"""Evaluate a LocPredictor over labelled Frames: Occ3D mIoU and geometry IoU for each prompt set
inside mask_camera and inside mask_lidar (ground truth 255 counts for geometry only, see metrics),
point-level lidarseg mIoU where asked (see point_metrics), and open-set AUROC / FPR@95 of the
unknown score (1 - the match score against the known prompts: best cosine similarity, or its smooth
maximum, see InferenceConfig) for voxels of novel objects against voxels of known classes."""
from __future__ import annotations

import logging
import time

import numpy as np

from loc_core.data.occ3d_io import NOVEL_ID_MIN
from loc_core.data.vocabulary import FREE_ID, OCC3D_CLASS_NAMES, UNLABELLED_ID
from loc_core.evaluation.frame_scores import PromptSetScores, frame_record
from loc_core.evaluation.homogenisation import HomogenisationMeter
from loc_core.evaluation.metrics import PROTOCOL
from loc_core.evaluation.openset import auroc, fpr_at_tpr
from loc_core.evaluation.point_metrics import POINT_CLASS_IDS, POINT_PROTOCOL
from loc_core.evaluation.prompts import PROMPT_SETS

log = logging.getLogger(__name__)


def evaluate(predictor, frames, prompt_sets=('standard', 'synonyms', 'renamed'), max_frames: int | None = None,
             homogenisation: bool = False, points: bool = False, on_frame=None,
             on_prediction=None, on_scored=None, point_classes=POINT_CLASS_IDS) -> dict:
    """-> {'protocol': how voxels are counted (metrics.PROTOCOL), 'standard': {miou, geometry_iou,
    per_class_iou, frames, empty_mask_frames} inside mask_camera, with 'mask_lidar': the same inside
    mask_lidar (and 'points': point-level scores when `points`) and 'open_set': {auroc, fpr95,
    novel_voxels, known_voxels} of the unknown score against this set's prompts, 'synonyms': ...,
    'open_set': the standard prompts' open set (empty without them), 'frames_skipped', 'seconds'}
    (+ 'homogenisation' when asked, 'point_protocol' with `points`). Points are scored over the Occ3D
    ids `point_classes` (default the lidarseg benchmark's 1-16). Frames without dense labels (and,
    with `points`, without point labels) are skipped and counted. `on_prediction(frame, semantics,
    grid)` receives the standard prompts' (else the first set's) (X,Y,Z) uint8 prediction of each
    evaluated frame, then `on_frame(record)` that frame's `frame_scores.frame_record`, and
    `on_scored(prompt_set, frame, scores, open_set)` every set's scores of every frame: its
    PromptSetScores and (unknown scores, novel flags) of `open_set_scores`, or None without dense
    labels. The unknown threshold applies to the standard prompts only: it is calibrated on them, so
    the word variants (synonyms, renamed) are labelled closed-set, as a pure test of classification
    under new words (their unknown scores do not depend on the threshold). The predictor's prompts and
    threshold are restored afterwards."""
    start = time.perf_counter()
    original = (predictor.prompts, predictor.class_ids)
    inference = predictor.config.inference
    threshold = inference.unknown_threshold
    totals = {name: PromptSetScores(points, point_classes) for name in prompt_sets}
    recorded = 'standard' if 'standard' in prompt_sets else next(iter(prompt_sets), None)
    scores = {name: [] for name in prompt_sets}
    novel = {name: [] for name in prompt_sets}
    skipped = 0
    meter = HomogenisationMeter() if homogenisation else None
    try:
        for n, frame in enumerate(frames):
            if max_frames is not None and n >= max_frames:
                break
            if frame.occupancy is None and not (points and frame.point_labels is not None):
                skipped += 1
                continue
            for name in prompt_sets:
                predictor.set_prompts(*PROMPT_SETS[name]())
                inference.unknown_threshold = threshold if name == 'standard' else -1.0
                result = predictor.predict(frame, with_features=meter is not None and name == 'standard')
                semantics = result.to_occ3d_semantics()
                here = totals[name].empty()
                here.add(frame, semantics, result.grid)
                totals[name].merge(here)
                if name == recorded and on_prediction is not None:
                    on_prediction(frame, semantics, result.grid)
                if name == recorded and on_frame is not None:
                    on_frame(frame_record(frame, semantics, here, name))
                open_set = None
                if frame.occupancy is not None:
                    open_set = open_set_scores(result, frame.occupancy)
                    scores[name].append(open_set[0])
                    novel[name].append(open_set[1])
                    if name == 'standard' and meter is not None:
                        meter.add(result, frame.occupancy)
                if on_scored is not None:
                    on_scored(name, frame, here, open_set)
    finally:
        predictor.set_prompts(*original)
        inference.unknown_threshold = threshold
    report = {name: t.summary(list(OCC3D_CLASS_NAMES[:17])) for name, t in totals.items()}
    for name in prompt_sets:
        report[name]['open_set'] = open_set_summary(scores[name], novel[name])
    report['protocol'] = PROTOCOL
    if points:
        report['point_protocol'] = POINT_PROTOCOL
    report['open_set'] = dict(report['standard']['open_set']) if 'standard' in report else open_set_summary([], [])
    if meter is not None:
        report['homogenisation'] = meter.summary()
    report['frames_skipped'] = skipped
    report['seconds'] = time.perf_counter() - start
    return report


def open_set_scores(result, labels) -> tuple[np.ndarray, np.ndarray]:
    """Unknown scores (1 - match score) of voxels that are occupied in the ground truth, predicted
    occupied and inside mask_camera, and whether each is a novel object."""
    truth = labels.semantics_open if labels.semantics_open is not None else labels.semantics
    keep = (labels.mask_camera.astype(bool) & (truth != FREE_ID) & (truth != UNLABELLED_ID) & result.occupied)
    return 1.0 - result.scores[keep], truth[keep] >= NOVEL_ID_MIN


def open_set_summary(scores: list, novel: list) -> dict:
    if not scores:
        return {'auroc': None, 'fpr95': None, 'novel_voxels': 0, 'known_voxels': 0}
    s, v = np.concatenate(scores), np.concatenate(novel)
    value = auroc(s, v)
    fpr = fpr_at_tpr(s, v, 0.95)
    return {'auroc': None if np.isnan(value) else value, 'fpr95': None if np.isnan(fpr) else fpr,
            'novel_voxels': int(v.sum()), 'known_voxels': int((~v).sum())}
