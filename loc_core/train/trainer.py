"""The trainer: one process or data-parallel (DDP, launched by torchrun: gloo on CPUs, nccl on
GPUs, one GPU per process). Each rank takes
its slice of the global batch; every loss is a mean over frames, so averaged gradients equal the
single-process gradient of the same global batch. Real and synthetic samples go through the same
steps; with `train.real_fraction` each batch mixes them at that ratio (`SourceMix`).

The network, the batch and the prompt embeddings live on `inference.device` (the text encoder
and the sampling of voxels stay on the host); the forward runs at `train.precision` (bf16:
autocast), the losses in float32."""
from __future__ import annotations

import json
import logging
import math
import time
from pathlib import Path

import torch

from loc_core.config import LocConfig
from loc_core.data.vocabulary import OCC3D_PROMPTS
from loc_core.data.vocabulary import STUFF_IDS
from loc_core.losses import (cosine_regression_loss, dense_contrastive_loss, geometry_loss, outlier_loss,
                             partial_label_loss, similarity_cross_entropy)
from loc_core.models.checkpoint import save_checkpoint
from loc_core.models.factory import create_model
from loc_core.models.precision import forward_precision
from loc_core.text.factory import create_text_encoder
from loc_core.train.augment import AugmentSettings
from loc_core.train.batch import OUTLIER, STUFF_SET, build_batch
from loc_core.train.mixing import SourceMix, nth_in_epochs
from loc_core.train.names import ClassNameBank
from loc_core.train.shards import rank_draws
from loc_core.train.state import load_train_state, save_train_state

log = logging.getLogger(__name__)
WARMUP_STEPS = 50


class Trainer:
    """`device` (default: `config.inference.device`) where the network trains; on CUDA with several
    processes and no device index each process takes GPU LOCAL_RANK."""

    def __init__(self, config: LocConfig, dataset, out_dir, text_encoder=None, rank: int = 0, world: int = 1,
                 device=None):
        self.config = config.validate()
        self.train_cfg = config.train
        if self.train_cfg.batch_size % world:
            raise ValueError(f'batch_size {self.train_cfg.batch_size} is not divisible by {world} processes')
        self.dataset, self.out_dir, self.rank, self.world = dataset, Path(out_dir), rank, world
        self.device = training_device(device or config.inference.device, rank, world)
        torch.manual_seed(self.train_cfg.seed)  # the weights are drawn on the CPU: the same on every device
        self.text_encoder = text_encoder or create_text_encoder(config.text)
        self.model = create_model(config.model, config.grid.to_grid(), self.text_encoder.dim).to(self.device)
        self.text = torch.from_numpy(self.text_encoder.encode_prompts(OCC3D_PROMPTS, config.text.templates)
                                     ).to(self.device)
        self.names = None  # train.class_names 'many': a name per class drawn each step
        if self.train_cfg.class_names == 'many':
            self.names = ClassNameBank.create(self.text_encoder, config.text.templates,
                                              self.train_cfg.standard_name_share, self.train_cfg.seed, self.device)
        self.stuff_prompts = torch.zeros(len(OCC3D_PROMPTS), dtype=torch.bool)
        self.stuff_prompts[list(STUFF_IDS)] = True
        self.stuff_prompts = self.stuff_prompts.to(self.device)
        self.net = self.model
        if world > 1:
            from torch.nn.parallel import DistributedDataParallel

            ids = [self.device.index] if self.device.type == 'cuda' else None
            self.net = DistributedDataParallel(self.model, device_ids=ids)
        self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=self.train_cfg.lr,
                                           weight_decay=self.train_cfg.weight_decay)
        self.teacher = self._make_teacher() if self.train_cfg.mode == 'self_supervised' else None
        self.draws = rank_draws(dataset, self.train_cfg, rank, world)  # a sharded dataset: this rank's part
        self.mix = None if self.draws is not None else SourceMix.for_dataset(
            dataset, self.train_cfg.real_fraction, self.train_cfg.seed)
        self.augment = AugmentSettings.from_train_config(self.train_cfg, self.model.grid.voxel_size)
        if self.train_cfg.free_space_targets and not hasattr(self.model, 'observed_free'):
            raise ValueError(f'train.free_space_targets needs a LiDAR backbone; {config.model.name} has none')
        self.step = 0

    def _make_teacher(self):
        from loc_core.text.clip import ClipDenseFeatures, load_clip

        teacher = ClipDenseFeatures(load_clip(self.train_cfg.teacher_model, self.train_cfg.teacher_pretrained)
                                    ).to(self.device)
        dim = teacher.visual.proj.shape[1]
        if dim != self.text_encoder.dim:
            raise ValueError(f'teacher features are {dim}-d but the text space is {self.text_encoder.dim}-d: '
                             f'self-supervised training needs text.encoder=clip with the teacher model')
        return teacher

    def lr_at(self, step: int) -> float:
        """Linear warm-up, then cosine decay to 5 % of the base rate."""
        base, total = self.train_cfg.lr, max(self.train_cfg.steps, 1)
        if step < WARMUP_STEPS:
            return base * (step + 1) / WARMUP_STEPS
        progress = min(1.0, (step - WARMUP_STEPS) / max(1, total - WARMUP_STEPS))
        return base * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * progress)))

    def global_positions(self, step: int) -> list[int]:
        size = self.train_cfg.batch_size
        return list(range(step * size, (step + 1) * size))

    def dataset_index(self, position: int) -> int:
        """Global sample position -> dataset index: a fresh seeded permutation every epoch (of each
        source, when mixing real and synthetic samples). With a sharded dataset (ShardedSamples) the
        index is into this rank's own part (RankDraws): ranks never read the same sample."""
        if self.draws is not None:
            return self.draws.index(position)
        if self.mix is not None:
            return self.mix.index(position)
        return nth_in_epochs([self.train_cfg.seed], position, len(self.dataset))

    def local_positions(self, step: int) -> list[int]:
        positions = self.global_positions(step)
        share = len(positions) // self.world
        return positions[self.rank * share:(self.rank + 1) * share]

    def train_step(self) -> dict:
        cfg = self.train_cfg
        positions = self.local_positions(self.step)
        samples = [self.dataset[self.dataset_index(p)] for p in positions]
        inputs, targets = build_batch(samples, positions, cfg.seed, self.step, cfg.voxels_per_frame,
                                      use_classes=cfg.mode == 'supervised',
                                      geometry_class_balance=cfg.geometry_class_balance, augment=self.augment,
                                      device=self.device, outliers=cfg.w_outlier > 0,
                                      pixel_teacher=self.pixel_distill_on)
        if cfg.free_space_targets:
            for sample, target in zip(inputs, targets):
                add_free_targets(target, self.model.observed_free(sample))
        batch_index = torch.cat([torch.full((len(t.voxels),), b, dtype=torch.long, device=self.device)
                                 for b, t in enumerate(targets)])
        voxels = torch.cat([t.voxels for t in targets])
        with forward_precision(self.device, cfg.precision):
            logits, features, encoded = self.net(inputs, batch_index, voxels)
        logits, features = logits.float(), features.float()  # losses in float32
        text = self.text if self.names is None else self.names.text(self.step)
        terms = self.loss_terms(logits, features, batch_index, targets, encoded, text)
        total = sum(terms.values())
        for group in self.optimizer.param_groups:
            group['lr'] = self.lr_at(self.step)
        self.optimizer.zero_grad(set_to_none=True)
        total.backward()
        self.optimizer.step()
        self.step += 1
        return {'loss': float(total.detach()), **{k: float(v.detach()) for k, v in terms.items()}}

    def loss_terms(self, logits, features, batch_index, targets, encoded, text=None) -> dict:
        """Per-frame losses averaged over this rank's frames (weights from the config); `text` (P,D)
        the class embeddings of this step (default: the standard prompts)."""
        cfg = self.train_cfg
        text = self.text if text is None else text
        terms: dict = {}
        for b, target in enumerate(targets):
            feats = features[batch_index == b]
            frame_terms = {'geometry': cfg.w_geometry * geometry_loss(logits[b], target.occupied, target.known,
                                                                      occupied_weight=target.occupied_weight)}
            named = target.classes >= 0  # voxels with one class (not the stuff-only set)
            if cfg.mode == 'self_supervised':
                frame_terms['distill'] = cfg.w_distill * self._distill(encoded.inputs[b], target.voxels, feats)
            elif cfg.semantic_loss == 'dcl':
                frame_terms['dcl'] = cfg.w_dcl * dense_contrastive_loss(feats, text, target.classes,
                                                                        cfg.temperature, cfg.class_balance)
                if cfg.w_align > 0:
                    frame_terms['align'] = cfg.w_align * cosine_regression_loss(
                        feats[named], text[target.classes[named]])
            else:
                frame_terms['cosine'] = cfg.w_dcl * cosine_regression_loss(feats[named],
                                                                           text[target.classes[named]])
            if cfg.mode == 'supervised' and cfg.w_ce > 0:
                frame_terms['ce'] = cfg.w_ce * similarity_cross_entropy(feats, text, target.classes,
                                                                        cfg.temperature)
            if cfg.mode == 'supervised' and cfg.w_partial > 0:
                frame_terms['partial'] = cfg.w_partial * partial_label_loss(
                    feats[target.classes == STUFF_SET], text, self.stuff_prompts, cfg.temperature)
            if self.pixel_distill_on:
                frame_terms['pixel'] = cfg.w_pixel_distill * self._pixel_distill(encoded.inputs[b], target, feats)
            if cfg.mode == 'supervised' and cfg.w_outlier > 0:
                frame_terms['outlier'] = cfg.w_outlier * outlier_loss(
                    feats[target.classes == OUTLIER], text, cfg.outlier_temperature, cfg.outlier_margin)
            for key, value in frame_terms.items():
                terms[key] = terms.get(key, 0.0) + value / len(targets)
        return terms

    @property
    def pixel_distill_on(self) -> bool:
        return self.train_cfg.mode == 'supervised' and self.train_cfg.w_pixel_distill > 0

    def _distill(self, sample, voxels, feats):
        teacher_maps = self.teacher(sample.images)
        targets, seen = self._at_projections(sample.rig, teacher_maps, voxels)
        return cosine_regression_loss(feats, targets, seen)

    def _pixel_distill(self, sample, target, feats):
        """Cosine regression of the (S,D) features of a frame's sampled voxels onto the teacher's
        probabilities at their projection times the prompt embeddings of the Occ3D classes its
        classes map to (voxels as `pixel_teacher_at` keeps them); 0 for samples without teacher
        probabilities."""
        if target.teacher_probs is None or len(target.teacher_probs) == 0:
            return feats.sum() * 0.0
        probs, valid = self.pixel_teacher_at(sample.rig, target)
        return cosine_regression_loss(feats, probs @ self.teacher_embeddings(target.teacher_classes), valid)

    def pixel_teacher_at(self, rig, target):
        """The teacher's probabilities at a frame's sampled voxels: ((S,K) where each voxel centre
        projects into `rig`'s images, (S,) bool kept: occupied, seen by a camera, and with at least half
        the probability on teacher classes that map to an Occ3D class (not sky))."""
        probs, seen = self._at_projections(rig, target.teacher_probs, target.voxels)
        voxels = target.voxels
        occupied = target.occupied[voxels[:, 0], voxels[:, 1], voxels[:, 2]]
        return probs, seen & occupied & (probs[:, target.teacher_classes >= 0].sum(dim=1) >= 0.5)

    def teacher_embeddings(self, classes):
        """(K,) Occ3D ids of the teacher's classes (-1: ignored) -> (K,D) their prompt embeddings
        (this run's text encoder and templates, unit length), zero rows for ignored classes."""
        named = classes >= 0
        embeddings = torch.zeros((len(classes), self.text.shape[1]), dtype=self.text.dtype, device=self.text.device)
        embeddings[named] = self.text[classes[named]]
        return embeddings

    def _at_projections(self, rig, maps, voxels):
        """(C,F,h,w) maps over a rig's whole images and (S,3) voxel indices -> ((S,F) the map values
        where each voxel's centre projects, (S,) bool seen by a camera)."""
        from loc_core.losses.distill import sample_teacher

        hw = tuple(maps.shape[-2:])
        table = self.model.projections.get(rig, f'teacher{hw}', self.model.grid.all_centers, hw, maps.device)
        shape = self.model.grid.shape
        flat = (voxels[:, 0] * shape[1] + voxels[:, 1]) * shape[2] + voxels[:, 2]
        return sample_teacher(maps, table[flat])

    def run(self, steps: int | None = None, progress=None) -> list[dict]:
        """Train until `steps` (default config.train.steps); checkpoints and logs from rank 0."""
        steps = steps or self.train_cfg.steps
        history, start = [], time.perf_counter()
        self.model.train()
        while self.step < steps:
            record = self.train_step()
            record['step'] = self.step
            history.append(record)
            if self.rank == 0 and (self.step % self.train_cfg.log_every == 0 or self.step == steps):
                record['sec_per_step'] = (time.perf_counter() - start) / len(history)
                self._log(record, progress)
            if self.rank == 0 and (self.step % self.train_cfg.checkpoint_every == 0 or self.step == steps):
                self.save_last()
        self.model.eval()
        return history

    def _log(self, record: dict, progress) -> None:
        line = ' '.join(f'{k}={v:.4g}' if isinstance(v, float) else f'{k}={v}' for k, v in record.items())
        log.info('train %s', line)
        if progress is not None:
            progress(record)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        with open(self.out_dir / 'train_log.jsonl', 'a') as handle:
            handle.write(json.dumps(record) + '\n')

    def save_last(self) -> Path:
        path = save_checkpoint(self.out_dir / 'last.safetensors', self.model, self.config, self.step,
                               self.text_encoder.identity)
        save_train_state(self.out_dir / 'last_state.pt', self.optimizer, self.step)
        return path

    def initialise_from(self, path) -> None:
        """Start from the weights of another checkpoint (same tensors, grid and text encoder; input
        settings such as `ego_box` come from this run's architecture; input channels this run adds at
        the end, such as `free_space_input`'s, start with zero weights), e.g. to fine-tune the
        synthetic-world checkpoint on mixed real + synthetic data. Step count and optimizer start
        afresh; CheckpointError when the checkpoint does not fit."""
        from loc_core.models.checkpoint import CheckpointError, load_checkpoint, load_state

        loaded = load_checkpoint(path, expect_text_identity=self.text_encoder.identity)
        if loaded.model.grid != self.model.grid:
            raise CheckpointError(f'{path}: grid {loaded.model.grid} differs from this run\'s {self.model.grid}')
        state = widen_trunk_input(loaded.model.state_dict(), self.model.state_dict())
        load_state(self.model, state, path)  # same tensors: clear error otherwise
        log.info('initialised from %s (trained %d steps)', path, loaded.step)

    def resume(self) -> bool:
        """Continue from out_dir/last.*; False when there is nothing to resume."""
        from loc_core.models.checkpoint import load_checkpoint

        if not (self.out_dir / 'last.safetensors').exists():
            return False
        loaded = load_checkpoint(self.out_dir / 'last.safetensors', expect_text_identity=self.text_encoder.identity)
        self.model.load_state_dict(loaded.model.state_dict())
        self.step = load_train_state(self.out_dir / 'last_state.pt', self.optimizer)
        if self.step != loaded.step:
            raise RuntimeError(f'resume: optimizer state is at step {self.step}, weights at {loaded.step}')
        log.info('resumed from %s at step %d', self.out_dir, self.step)
        return True


STEM_WEIGHT = 'trunk.stem.0.weight'  # the first layer of the BEV trunk: (Cout, Cin, 1, 1)


def widen_trunk_input(state: dict, own: dict) -> dict:
    """A checkpoint's state for a network whose trunk takes more input channels, appended after the
    checkpoint's (e.g. `free_space_input`): the stem's weights of the new channels are zero, so the
    widened network starts out computing exactly what the checkpoint did. Other states unchanged."""
    old, new = state.get(STEM_WEIGHT), own.get(STEM_WEIGHT)
    if old is None or new is None or old.shape == new.shape or old.shape[0] != new.shape[0] \
            or old.shape[2:] != new.shape[2:] or old.shape[1] > new.shape[1]:
        return state
    widened = torch.zeros_like(new)
    widened[:, :old.shape[1]] = old
    log.info('trunk input widened from %d to %d channels (new ones start at zero)', old.shape[1], new.shape[1])
    return {**state, STEM_WEIGHT: widened}


def add_free_targets(target, free: torch.Tensor) -> None:
    """Make the (X,Y,Z) bool voxels a sample's sweep sees through free geometry targets of its
    FrameTargets where its labels' mask says nothing (labelled voxels keep their labels)."""
    extra = free.to(target.known.device) & ~target.known
    target.known = target.known | extra
    target.occupied = target.occupied & ~extra


def training_device(device, rank: int = 0, world: int = 1) -> torch.device:
    """The torch.device a training process uses: `device` as given, except 'cuda' without an index
    in a multi-process run, which becomes this process's GPU (LOCAL_RANK, else rank modulo the GPU
    count); a CUDA device is made the current one (what nccl collectives use)."""
    import os

    device = torch.device(device)
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError(f'training device {device}: CUDA is not available (torch {torch.__version__})')
        if device.index is None:
            index = int(os.environ.get('LOCAL_RANK', rank)) % torch.cuda.device_count() if world > 1 \
                else torch.cuda.current_device()
            device = torch.device('cuda', index)
        torch.cuda.set_device(device)
    return device
