"""The node's only contact with the model: building loc_core's predictor from the parameters, and
the node-side thresholds applied on top of its results. No model code lives in loc_ros."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL, OccupancyResult


class StartupError(RuntimeError):
    """The node cannot start; the message is the one line the user sees."""


class Predictor(Protocol):
    def predict(self, frame) -> OccupancyResult: ...

    def set_prompts(self, prompts) -> None: ...


def _existing_file(kind: str, path: str) -> Path | None:
    if not path:
        return None
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise StartupError(f'{kind} not found: {resolved}')
    return resolved


def load_predictor(settings: dict) -> Predictor:
    """loc_core's LocPredictor for `settings` (model_config, checkpoint, device, prompts,
    prompt_templates). Every failure (missing or corrupt checkpoint, bad config, unavailable
    device) becomes a StartupError with one line naming the cause."""
    config_path = _existing_file('model config', settings.get('model_config', ''))
    checkpoint = _existing_file('checkpoint', settings.get('checkpoint', ''))
    try:
        from loc_core.inference.predictor import LocPredictor
    except ImportError as exc:
        raise StartupError(f'loc_core inference is not available: {exc}') from exc
    try:
        predictor = LocPredictor(str(config_path) if config_path else None,
                                 checkpoint=str(checkpoint) if checkpoint else None,
                                 device=settings.get('device', 'cpu'))
        predictor.set_prompts(list(settings['prompts']))
    except Exception as exc:  # noqa: BLE001 - any model/config failure is a startup failure
        raise StartupError(f'cannot load the model: {type(exc).__name__}: {exc}'.splitlines()[0]) from exc
    return predictor


def apply_thresholds(result: OccupancyResult, unknown_threshold: float, score_threshold: float) -> OccupancyResult:
    """The node's thresholds on top of the model's: voxels with occupancy below `score_threshold`
    become free, occupied voxels with best similarity below `unknown_threshold` become unknown.
    Returns `result` itself when neither changes anything, else a copy with new labels/indices."""
    if unknown_threshold <= 0.0 and score_threshold <= 0.0:
        return result
    labels = result.labels.copy()
    occupied = labels != FREE_LABEL
    labels[occupied & (result.occupancy < score_threshold)] = FREE_LABEL
    labels[(labels != FREE_LABEL) & (result.scores < unknown_threshold)] = UNKNOWN_LABEL
    keep = labels[tuple(result.occupied_indices.T)] != FREE_LABEL if len(result.occupied_indices) else \
        np.zeros(0, dtype=bool)
    return replace(result, labels=labels, occupied_indices=result.occupied_indices[keep],
                   features=result.features[keep])
