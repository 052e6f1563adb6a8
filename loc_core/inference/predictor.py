"""`LocPredictor`: the one inference entry point (node, demo, loc-eval).

    predictor = LocPredictor(LocConfig())          # shipped demo checkpoint when present
    result = predictor.predict(frame)              # -> OccupancyResult
    predictor.set_prompts(['car', 'person', ...])  # re-encode, swap atomically; no retraining

A pipeline may call `prepare(frame)` on another thread (the network's inputs that depend on the
frame alone) and hand the `PreparedFrame` to `predict` in place of the frame: the same result.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from loc_core.config import MAX_PROMPTS, LocConfig
from loc_core.cpu_runtime import tune_cpu_runtime
from loc_core.data.frame import Frame
from loc_core.inference.hidden import hidden_voxels, source_rows
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL, OccupancyResult
from loc_core.inference.onnx_backend import OnnxBackend, ensure_export
from loc_core.models.checkpoint import DEMO_CHECKPOINT, Checkpoint, load_checkpoint, resolve_shipped
from loc_core.models.factory import create_model
from loc_core.models.inputs import ModelInput, frame_to_input
from loc_core.models.precision import forward_precision, resolve_precision, to_float32
from loc_core.text.factory import create_text_encoder

log = logging.getLogger(__name__)
NO_CHECKPOINT = 'none'  # explicit request for an untrained, randomly initialised network


@dataclass(frozen=True)
class PromptSet:
    """Prompts with their Occ3D ids, (P,D) unit embeddings, the head's prompt operator and, with
    prompt projection, (P,) weights on the cosines when the label is chosen."""

    prompts: tuple
    class_ids: np.ndarray
    embeddings: torch.Tensor
    operator: tuple
    label_weights: torch.Tensor | None = None


@dataclass(frozen=True)
class PreparedFrame:
    """A Frame with the network input made from it (`LocPredictor.prepare`): `sample` belongs to the
    predictor that made it."""

    frame: Frame
    sample: ModelInput


class LocPredictor:
    """`config` gives prompts, thresholds and device (None: the checkpoint's own config, including
    its tuned thresholds); the network, its grid and its text space always come from the checkpoint
    (argument: a path or an already loaded `Checkpoint`, else `config.inference.checkpoint`, else the
    shipped demo checkpoint; 'demo' and 'real' name the shipped ones). With no checkpoint at all, or checkpoint 'none', the network is randomly initialised (its grid,
    architecture and text encoder from `config`) and `trained` is False.

    The network, its projection tables and the prompt embeddings live on `config.inference.device`
    (without a config: the CPU, whatever device the checkpoint was trained on); the network forward
    runs at `config.inference.precision` (read on every predict) and everything after it (occupancy
    threshold, prompt similarities) in float32; results come back as numpy arrays. With
    `inference.backend` 'onnxruntime' the network runs as ONNX graphs (exported, when needed, here
    in the constructor; see loc_core/inference/onnx_backend.py) and the prompt step in PyTorch."""

    def __init__(self, config: LocConfig | None = None, checkpoint=None, text_encoder=None):
        own_config = config is None
        self.config = (config or LocConfig()).validate()
        self.device = torch.device(self.config.inference.device)
        if self.device.type == 'cuda' and not torch.cuda.is_available():
            raise ValueError(f'inference.device {self.config.inference.device!r}: CUDA is not available '
                             f'(torch {torch.__version__})')
        tune_cpu_runtime(self.config.inference.num_threads, self.device)  # before any op starts a thread pool
        loaded = checkpoint if isinstance(checkpoint, Checkpoint) else None
        path = loaded.path if loaded else resolve_shipped(checkpoint or self.config.inference.checkpoint) or \
            (DEMO_CHECKPOINT if DEMO_CHECKPOINT.exists() else None)
        if str(path) == NO_CHECKPOINT:
            path = None
        self.trained, self.checkpoint_path, self.model = False, None, None
        if path or loaded:
            loaded = loaded or load_checkpoint(path, device=str(self.device))
            self.model, self.trained, self.checkpoint_path = loaded.model.to(self.device), True, loaded.path
            if own_config:  # no config given: the checkpoint's own settings, tuned thresholds included
                self.config = replace(loaded.config, inference=replace(loaded.config.inference,
                                                                       device=str(self.device)))
            elif loaded.config.text != self.config.text:
                log.info('using the text encoder the checkpoint was trained with: %s', loaded.config.text)
            self.config = replace(self.config, grid=loaded.config.grid, text=loaded.config.text,
                                  model=loaded.config.model)
        self.text_encoder = text_encoder or create_text_encoder(self.config.text, device=str(self.device))
        tune_cpu_runtime(self.config.inference.num_threads, self.device)  # again: the text encoder loads more BLAS
        if self.model is None:
            log.warning('LocPredictor: no checkpoint, the network has RANDOM weights (untrained)')
            self.model = create_model(self.config.model, self.config.grid.to_grid(), self.text_encoder.dim)
            self.model.to(self.device).eval()
        if self.model.text_dim != self.text_encoder.dim:
            raise ValueError(f'network text dim {self.model.text_dim} != text encoder dim {self.text_encoder.dim}')
        self.grid = self.model.grid
        self.onnx = None  # the ONNX Runtime backend, when inference.backend asks for it
        if self.config.inference.backend == 'onnxruntime':
            folder = ensure_export(self.model, self.config.inference.onnx_path)
            self.onnx = OnnxBackend(self.model, folder, self.config.inference.num_threads,
                                    self.config.inference.device)
        self._feature_basis = self.model.feature_basis().detach().float().cpu().numpy().copy()  # (D,L)
        self._feature_basis.flags.writeable = False  # shared by every result
        self._lock = threading.Lock()
        self._prompts: PromptSet | None = None
        self.set_prompts(self.config.inference.prompts, self.config.inference.resolved_class_ids())

    @property
    def prompts(self) -> tuple:
        return self._prompts.prompts

    @property
    def class_ids(self) -> np.ndarray:
        return self._prompts.class_ids.copy()

    @property
    def prompt_embeddings(self) -> np.ndarray:
        """(P,D) float32 unit embeddings of the prompts; `OccupancyResult.similarities` of these are
        the cosines behind `scores`, and behind `labels` after `prompt_label_weights`."""
        return self._prompts.embeddings.float().cpu().numpy()

    @property
    def prompt_label_weights(self) -> np.ndarray:
        """(P,) float32 factors on each prompt's cosines when the best prompt (the label) is chosen:
        1 / the length of the prompt's projection onto the network's feature subspace with
        `inference.prompt_projection`, else ones."""
        weights = self._prompts.label_weights
        return np.ones(len(self._prompts.prompts), np.float32) if weights is None else weights.float().cpu().numpy()

    def set_prompts(self, prompts, class_ids=None) -> None:
        """Re-encode the prompt set and swap it in atomically (a concurrent predict sees the old or
        the new set, never a mix). `class_ids` (P,) Occ3D ids, -1 = outside the vocabulary."""
        prompts = tuple(str(p) for p in prompts)
        if not prompts or len(prompts) > MAX_PROMPTS or any(not p.strip() for p in prompts):
            raise ValueError(f'prompts must be 1-{MAX_PROMPTS} non-empty strings')
        ids = np.full(len(prompts), -1, np.int64) if class_ids is None else np.asarray(class_ids, np.int64)
        if ids.shape != (len(prompts),):
            raise ValueError(f'class_ids has shape {ids.shape} for {len(prompts)} prompts')
        emb = self.text_encoder.encode_prompts(prompts, self.config.text.templates)
        embeddings = torch.from_numpy(emb).to(self.device)
        with torch.inference_mode():
            head = self.model.language_head
            operator = tuple(t.clone() for t in head.prompt_operator(embeddings))
            weights = 1.0 / head.subspace_lengths(embeddings).clamp(min=1e-6) \
                if self.config.inference.prompt_projection else None
        new = PromptSet(prompts, ids, embeddings, operator, weights)
        with self._lock:
            self._prompts = new

    @torch.inference_mode()
    def prepare(self, frame: Frame) -> PreparedFrame:
        """The part of `predict` that needs the frame alone, not the weights or the prompts: the
        images at the network's size as tensors, the ego points, and the backbone's LiDAR-side inputs
        (observed free space, BEV columns: `LocNetwork.prepare`). Safe to run on another thread
        while `predict` works on an earlier frame."""
        sample = frame_to_input(frame, self.model.image_size, self.device)
        self.model.prepare(sample)
        return PreparedFrame(frame, sample)

    @torch.inference_mode()
    def predict(self, frame: Frame | PreparedFrame, with_features: bool | None = None) -> OccupancyResult:
        """One Frame (or the `PreparedFrame` that `prepare` made of it) -> OccupancyResult on the
        model grid (ego frame of the frame). `with_features` (default:
        config.inference.return_features) False returns (M,0) feature coefficients. `timings_ms`
        'prepare' covers only what was not prepared beforehand."""
        if with_features is None:
            with_features = self.config.inference.return_features
        prompt_set = self._prompts
        timings = {}
        start = time.perf_counter()
        if not isinstance(frame, PreparedFrame):
            frame = self.prepare(frame)
        frame, sample = frame.frame, frame.sample
        timings['prepare'] = _ms(start)
        inference = self.config.inference
        threshold = float(np.log(inference.occupancy_threshold / (1 - inference.occupancy_threshold)))
        start = time.perf_counter()
        if self.onnx is not None:
            logits, occupied, state = self.onnx.encode(sample, threshold)
        else:
            precision = resolve_precision(self.device, inference.precision)
            with forward_precision(self.device, precision):
                encoded = self.model.encode([sample])
            if precision != 'fp32':
                encoded = to_float32(encoded)  # thresholds and similarities in float32
            logits = encoded.occupancy_logits[0]
            occupied = torch.nonzero(logits >= threshold)  # waits for the device
        timings['network'] = _ms(start)
        start = time.perf_counter()
        hidden = hidden_voxels(logits >= threshold)[tuple(occupied.T)] \
            if inference.hidden_voxels == 'from_above' and len(occupied) else None
        classified = occupied if hidden is None else occupied[~hidden]
        if self.onnx is not None:
            best, best_index, coefficients = self.onnx.classify(state, classified, prompt_set, inference, with_features)
        else:
            best, best_index, coefficients = self.model.classify_voxels(
                encoded, classified, prompt_set.operator, with_features, inference.unknown_temperature,
                inference.unknown_norm_weight, label_weights=prompt_set.label_weights)
        if hidden is not None:  # every occupied voxel's row among the classified ones
            take = source_rows(occupied, hidden, logits.shape[1])
            best, best_index, coefficients = best[take], best_index[take], coefficients[take]
        self._synchronize()
        timings['language'] = _ms(start)
        start = time.perf_counter()
        result = self._assemble(frame, logits, occupied, best, best_index, coefficients, prompt_set)
        timings['assemble'] = _ms(start)
        result.timings_ms = timings
        return result

    def _synchronize(self) -> None:
        """Wait for the device's queued work (stage timings on a GPU); nothing on the CPU."""
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)

    def _assemble(self, frame, logits, occupied, best, best_index, coefficients, prompt_set) -> OccupancyResult:
        # built on the network's device, copied to the host once each
        labels = torch.full(logits.shape, FREE_LABEL, dtype=torch.uint8, device=logits.device)
        scores = torch.zeros(logits.shape, dtype=torch.float32, device=logits.device)
        unknown = best < self.config.inference.unknown_threshold
        i, j, k = occupied.unbind(1)
        labels[i, j, k] = torch.where(unknown, UNKNOWN_LABEL, best_index).to(torch.uint8)
        scores[i, j, k] = best.float()
        return OccupancyResult(
            labels=labels.cpu().numpy(), occupancy=torch.sigmoid(logits).float().cpu().numpy(),
            scores=scores.cpu().numpy(), occupied_indices=occupied.cpu().numpy().astype(np.int64),
            feature_coefficients=coefficients.float().cpu().numpy(), prompts=prompt_set.prompts,
            feature_basis=self._feature_basis if coefficients.shape[1] else None,
            class_ids=prompt_set.class_ids.copy(), grid=self.grid, timestamp_ns=int(frame.timestamp_ns))


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0
