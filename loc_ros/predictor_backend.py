"""The node's only contact with the model: building loc_core's `LocPredictor` from the parameters
(they override the matching keys of the model config file), and pushing live threshold changes into
it. No model code lives in loc_ros."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Protocol

import numpy as np

from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL, OccupancyResult

NO_CHECKPOINT = 'none'  # LocPredictor's explicit "untrained network" request


class StartupError(RuntimeError):
    """The node cannot start; the message is the one line the user sees."""


class Predictor(Protocol):
    def predict(self, frame) -> OccupancyResult: ...

    def set_prompts(self, prompts, class_ids=None) -> None: ...


def _existing_file(kind: str, path: str) -> Path | None:
    if not path or path == NO_CHECKPOINT:
        return None
    resolved = Path(path).expanduser()
    if not resolved.is_file():
        raise StartupError(f'{kind} not found: {resolved}')
    return resolved


def _checkpoint_file(settings: dict) -> Path | None:
    """The `checkpoint` parameter as an existing file ('demo' / 'real' name the shipped ones); None
    for '' (the default) and 'none'; StartupError when the file is missing."""
    from loc_core.models.checkpoint import resolve_shipped

    return _existing_file('checkpoint', resolve_shipped(settings.get('checkpoint', '')))


def _load_checkpoint(settings: dict):
    """The checkpoint the node runs (the `checkpoint` parameter, else the shipped demo one), read
    once: a loc_core `Checkpoint` on the host, or None ('none', or no checkpoint at all)."""
    from loc_core.models.checkpoint import DEMO_CHECKPOINT, CheckpointError, load_checkpoint

    if settings.get('checkpoint', '') == NO_CHECKPOINT:
        return None
    path = _checkpoint_file(settings) or (DEMO_CHECKPOINT if DEMO_CHECKPOINT.exists() else None)
    if path is None:
        return None
    try:
        return load_checkpoint(path)
    except CheckpointError as exc:
        raise StartupError(f'cannot load the model: {type(exc).__name__}: {exc}'.splitlines()[0]) from exc


def _base_config(settings: dict, checkpoint=None):
    """The config the node's parameters go on top of: the `model_config` file when given, else the
    config stored in the checkpoint (`checkpoint`: an already loaded one, else read from the
    parameter or the shipped demo one: its tuned thresholds), else loc_core's defaults."""
    from loc_core.config import LocConfig
    from loc_core.models.checkpoint import DEMO_CHECKPOINT, CheckpointError, read_metadata

    path = _existing_file('model config', settings.get('model_config', ''))
    if path:
        return LocConfig.load(path)
    if settings.get('checkpoint', '') == NO_CHECKPOINT:
        return LocConfig()
    if checkpoint is not None:
        return checkpoint.config
    checkpoint = _checkpoint_file(settings) or (DEMO_CHECKPOINT if DEMO_CHECKPOINT.exists() else None)
    if checkpoint is None:
        return LocConfig()
    try:
        return LocConfig.from_dict(json.loads(read_metadata(checkpoint)['config']))
    except (CheckpointError, KeyError, ValueError) as exc:
        raise StartupError(f'cannot load the model: {type(exc).__name__}: {exc}'.splitlines()[0]) from exc


def model_config(settings: dict, checkpoint=None):
    """loc_core LocConfig: the base config (see `_base_config`) with the node's prompts (+ their
    Occ3D ids), device, precision, checkpoint and prompt templates (when given) on top, and no per-voxel
    features (none of the node's outputs carries them). Thresholds stay the
    base config's: the node declares its threshold parameters from the loaded model."""
    try:
        from loc_core.config import ConfigError
    except ImportError as exc:
        raise StartupError(f'loc_core model configuration is not available: {exc}') from exc

    from loc_ros.parameters import prompt_class_ids

    try:
        config = _base_config(settings, checkpoint)
        inference = replace(config.inference, prompts=tuple(settings['prompts']),
                            class_ids=prompt_class_ids(settings['prompts']),
                            device=settings.get('device', 'cpu'), checkpoint=settings.get('checkpoint', ''),
                            precision=settings.get('precision', 'auto'), backend=settings.get('backend', 'torch'),
                            onnx_path=settings.get('onnx_path', ''),
                            hidden_voxels=settings.get('hidden_voxels', 'classify'),
                            num_threads=settings.get('num_threads') or config.inference.num_threads,
                            return_features=False)  # no output carries the voxel features
        text = config.text
        if settings.get('prompt_templates'):
            text = replace(text, templates=tuple(settings['prompt_templates']))
        return replace(config, inference=inference, text=text).validate()
    except ConfigError as exc:
        raise StartupError(f'bad model config: {exc}') from exc


def model_thresholds(predictor) -> dict:
    """{'unknown_threshold', 'score_threshold'} of a LocPredictor's config; {} for other predictors."""
    inference = getattr(getattr(predictor, 'config', None), 'inference', None)
    if inference is None:
        return {}
    return {'unknown_threshold': float(inference.unknown_threshold),
            'score_threshold': float(inference.occupancy_threshold)}


def load_predictor(settings: dict, logger=None) -> Predictor:
    """loc_core's LocPredictor for the node's settings, the checkpoint read once (its weights and
    config together). Every failure (missing or corrupt
    checkpoint, bad config, unavailable device) becomes a StartupError naming the cause."""
    checkpoint = _load_checkpoint(settings)  # read once; a missing file fails here
    config = model_config(settings, checkpoint)
    try:
        from loc_core.inference.predictor import LocPredictor
    except ImportError as exc:
        raise StartupError(f'loc_core inference is not available: {exc}') from exc
    try:
        predictor = LocPredictor(config, checkpoint=checkpoint)
    except Exception as exc:  # noqa: BLE001 - any model/checkpoint failure is a startup failure
        first_line = (str(exc).splitlines() or [''])[0]
        raise StartupError(f'cannot load the model: {type(exc).__name__}: {first_line}') from exc
    if logger is not None and not getattr(predictor, 'trained', True):
        logger.warning('the model has NO trained checkpoint (random weights): outputs are meaningless')
    return predictor


def push_thresholds(predictor, unknown_threshold: float, score_threshold: float) -> bool:
    """Give a LocPredictor new thresholds (its config is read on every predict; the swap is one
    attribute assignment). Returns False for predictors without a loc_core config."""
    config = getattr(predictor, 'config', None)
    if config is None or not hasattr(config, 'inference'):
        return False
    inference = replace(config.inference, unknown_threshold=float(unknown_threshold),
                        occupancy_threshold=float(score_threshold))
    predictor.config = replace(config, inference=inference)
    return True


def apply_thresholds(result: OccupancyResult, unknown_threshold: float, score_threshold: float) -> OccupancyResult:
    """Thresholds applied on a result, for predictors that cannot take them: voxels with occupancy
    below `score_threshold` become free, occupied voxels with best similarity below
    `unknown_threshold` become unknown. Returns a copy with new labels, indices and features."""
    labels = result.labels.copy()
    labels[result.occupancy < score_threshold] = FREE_LABEL
    labels[(labels != FREE_LABEL) & (result.scores < unknown_threshold)] = UNKNOWN_LABEL
    index = result.occupied_indices
    keep = labels[tuple(index.T)] != FREE_LABEL if len(index) else np.zeros(0, dtype=bool)
    return replace(result.select_voxels(keep), labels=labels)
