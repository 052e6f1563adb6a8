"""Calibrate the unknown threshold of a trained model on labelled training samples: the match score
(best cosine, or its smooth maximum at a temperature) below which only `1 - keep` of the known
occupied voxels fall (novel objects excluded)."""
from __future__ import annotations

import numpy as np
import torch

from loc_core.data.vocabulary import OCC3D_PROMPTS
from loc_core.models.base import LocNetwork
from loc_core.models.inputs import make_input
from loc_core.train.samples import IGNORE


@torch.inference_mode()
def best_similarities(model: LocNetwork, text: torch.Tensor, samples, temperature: float = 0.0) -> np.ndarray:
    """(K,) float32 match score against `text` (P,D) (see `LocNetwork.classify_voxels`) of every
    known, labelled occupied voxel of the samples."""
    values = []
    operator = model.language_head.prompt_operator(text)
    for sample in samples:
        voxels = torch.from_numpy(np.argwhere(sample.class_targets() != IGNORE))
        encoded = model.encode([make_input(sample.points, sample.images, sample.rig)])
        values.append(model.classify_voxels(encoded, voxels, operator, temperature=temperature)[0].numpy())
    return np.concatenate(values) if values else np.zeros(0, np.float32)


def calibrate_unknown_threshold(model: LocNetwork, text_encoder, templates, samples, keep: float = 0.95,
                                temperature: float = 0.0) -> float:
    text = torch.from_numpy(text_encoder.encode_prompts(OCC3D_PROMPTS, templates))
    best = best_similarities(model.eval(), text, samples, temperature)
    if len(best) == 0:
        raise ValueError('no labelled voxels to calibrate the unknown threshold on')
    return float(np.quantile(best, 1.0 - keep))
