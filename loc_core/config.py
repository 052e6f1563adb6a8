"""Typed configuration of the LOC model: the single source of truth for grid, text encoder,
network, inference and training settings. Loads from / saves to dicts, JSON and YAML with
validation (unknown keys and bad values raise `ConfigError`); never evaluates code."""
from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from pathlib import Path

from loc_core.data.vocabulary import OCC3D_PROMPTS
from loc_core.geometry.voxel_grid import OCC3D_RANGE, OCC3D_VOXEL_SIZE, VoxelGrid

MAX_PROMPTS = 250  # label values 250-255 are reserved (unknown 254, free 255)

DEFAULT_TEMPLATES = ('{}', 'a {}')
BACKENDS = ('torch', 'onnxruntime')  # how the network runs (loc_core/inference/onnx_backend.py)
HIDDEN_VOXEL_MODES = ('classify', 'from_above')  # the prompt step on every occupied voxel, or not on hidden ones
# network forward: float32, bfloat16 autocast, or bfloat16 where the device computes it natively
# (loc_core/models/precision.py); losses and similarities stay float32
PRECISIONS = ('fp32', 'bf16', 'auto')


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the offending key."""


@dataclass
class GridConfig:
    """The voxel grid (ego frame): range (xmin, ymin, zmin, xmax, ymax, zmax) metres, cubic voxels."""

    point_range: tuple = OCC3D_RANGE
    voxel_size: float = OCC3D_VOXEL_SIZE

    def validate(self) -> None:
        try:
            self.to_grid()
        except (ValueError, TypeError) as exc:
            raise ConfigError(f'grid: {exc}') from exc

    def to_grid(self) -> VoxelGrid:
        return VoxelGrid(tuple(self.point_range), float(self.voxel_size))


@dataclass
class TextConfig:
    """Text encoder. `encoder` 'sentence' (offline all-MiniLM-L6-v2, 384-d) or 'clip' (open_clip
    `model_name` with weights from `pretrained`: a local checkpoint path or an open_clip tag;
    empty = random weights). Prompts are encoded through every template and averaged."""

    encoder: str = 'sentence'
    model_name: str = 'all-MiniLM-L6-v2'
    pretrained: str = ''
    templates: tuple = DEFAULT_TEMPLATES
    cache_dir: str = ''  # empty: in-memory cache only

    def validate(self) -> None:
        if self.encoder not in ('sentence', 'clip'):
            raise ConfigError(f"text.encoder must be 'sentence' or 'clip', got {self.encoder!r}")
        if not self.templates or any('{}' not in t for t in self.templates):
            raise ConfigError(f"text.templates must be non-empty and each contain '{{}}', got {self.templates}")


@dataclass
class ModelConfig:
    """Network architecture: `name` picks a file in loc_core/model_configs (e.g. 'fusion_small');
    `overrides` replaces single architecture parameters of that file."""

    name: str = 'fusion_small'
    overrides: dict = field(default_factory=dict)

    def validate(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError('model.name must be a non-empty string')
        if not isinstance(self.overrides, dict):
            raise ConfigError('model.overrides must be a mapping')


@dataclass
class InferenceConfig:
    """Prediction settings. `prompts` the open vocabulary; `class_ids` the Occ3D id of each prompt
    (-1 = none; empty = 0..P-1 when P == 17 else all -1); a voxel is occupied when its occupancy
    probability >= `occupancy_threshold` and "unknown" when its match score < `unknown_threshold`.
    The match score is the best cosine similarity to the prompts, or with `unknown_temperature`
    T > 0 its smooth maximum T log(sum_p exp(cos_p / T)) (the negative energy score, between the
    best cosine and that plus T log P; it separates novel objects better: BENCHMARKS.md). With
    `unknown_norm_weight` a > 0 the score also gains a ln|W h|, the log length of the voxel's
    language feature before normalisation: novel objects get shorter features than known ones
    (feature-norm out-of-distribution scoring), so the score is then no longer bounded by 1 + T log P.
    `prompt_projection` True labels each occupied voxel with the prompt whose projection onto the
    network's feature subspace it matches best (its cosine divided by the length of that projection,
    `LanguageHead.subspace_lengths`), so words the network never trained on compete fairly with its
    training names; the match score keeps the plain cosines (docs/benchmarks-history.md, "Prompts in the feature
    subspace").
    `checkpoint` empty = the shipped demo checkpoint when present, 'none' = an untrained, randomly
    initialised network. `return_features` False skips the voxel
    features (returned factored, see OccupancyResult: (M,L) coefficients, 128 B per voxel).
    `device` the torch device ('cpu', 'cuda', 'cuda:N'; loc-train trains on it too); `precision`
    'fp32', 'bf16' (the network forward under bfloat16 autocast; the prompt similarities stay
    float32) or 'auto' (bf16 where the device has bfloat16 arithmetic units: a GPU with bf16, a CPU
    with AVX512-BF16 or AMX; fp32 elsewhere and under onnxruntime); `num_threads` applies to a CPU device only (and
    to onnxruntime's intra-op threads).
    `backend` 'torch' (eager PyTorch) or 'onnxruntime': the prompt-independent network as ONNX
    graphs under ONNX Runtime (fp32 only; providers follow `device`), exported when the predictor
    is built to `onnx_path`, or with `onnx_path` empty to a cache folder named by the network's
    digest (loc_core/inference/onnx_backend.py).
    `hidden_voxels` 'classify' runs the prompt step on every occupied voxel; 'from_above' only on the
    occupied voxels with a free face neighbour, the hidden ones (all six neighbours occupied) taking
    the class, score and feature of the nearest visible voxel above them in their column
    (loc_core/inference/hidden.py): no sensor sees them, and on real scans they are about half of
    the occupied voxels."""

    prompts: tuple = OCC3D_PROMPTS
    class_ids: tuple = ()
    occupancy_threshold: float = 0.5
    unknown_threshold: float = 0.0
    unknown_temperature: float = 0.0
    unknown_norm_weight: float = 0.0
    prompt_projection: bool = False
    device: str = 'cpu'
    num_threads: int = 1
    checkpoint: str = ''
    return_features: bool = True
    precision: str = 'fp32'
    backend: str = 'torch'
    onnx_path: str = ''
    hidden_voxels: str = 'classify'

    def validate(self) -> None:
        if self.hidden_voxels not in HIDDEN_VOXEL_MODES:
            raise ConfigError(f'inference.hidden_voxels must be one of {list(HIDDEN_VOXEL_MODES)}, '
                              f'got {self.hidden_voxels!r}')
        if self.backend not in BACKENDS:
            raise ConfigError(f'inference.backend must be one of {list(BACKENDS)}, got {self.backend!r}')
        if self.backend == 'onnxruntime' and self.precision == 'bf16':
            raise ConfigError(f"inference.precision {self.precision!r} needs inference.backend 'torch' "
                              '(the ONNX export runs in float32)')
        if not self.prompts or any(not isinstance(p, str) or not p.strip() for p in self.prompts):
            raise ConfigError('inference.prompts must be non-empty strings')
        if len(self.prompts) > MAX_PROMPTS:
            raise ConfigError(f'inference.prompts: at most {MAX_PROMPTS} prompts (labels are uint8)')
        if self.class_ids and len(self.class_ids) != len(self.prompts):
            raise ConfigError(f'inference.class_ids has {len(self.class_ids)} entries for {len(self.prompts)} prompts')
        if not 0.0 < self.occupancy_threshold < 1.0:
            raise ConfigError(f'inference.occupancy_threshold must be in (0, 1), got {self.occupancy_threshold}')
        if not 0.0 <= self.unknown_temperature <= 1.0:
            raise ConfigError(f'inference.unknown_temperature must be in [0, 1], got {self.unknown_temperature}')
        if not 0.0 <= self.unknown_norm_weight <= 1.0:
            raise ConfigError(f'inference.unknown_norm_weight must be in [0, 1], got {self.unknown_norm_weight}')
        highest = self.highest_match_score()
        if self.unknown_norm_weight > 0:
            if not math.isfinite(self.unknown_threshold):
                raise ConfigError(f'inference.unknown_threshold must be finite, got {self.unknown_threshold}')
        elif not -1.0 <= self.unknown_threshold <= highest:
            raise ConfigError(f'inference.unknown_threshold must be in [-1, {highest:.3f}] at unknown_temperature '
                              f'{self.unknown_temperature}, got {self.unknown_threshold}')
        if self.num_threads < 1:
            raise ConfigError('inference.num_threads must be >= 1')
        _check_precision(self.precision, 'inference.precision')

    def highest_match_score(self) -> float:
        """The largest match score any voxel can reach: 1 + T log(MAX_PROMPTS) (unbounded with a
        norm weight)."""
        if self.unknown_norm_weight > 0:
            return math.inf
        return 1.0 + self.unknown_temperature * math.log(MAX_PROMPTS)

    def resolved_class_ids(self) -> tuple:
        if self.class_ids:
            return tuple(int(c) for c in self.class_ids)
        if tuple(self.prompts) == tuple(OCC3D_PROMPTS):
            return tuple(range(len(self.prompts)))
        return tuple(-1 for _ in self.prompts)


@dataclass
class TrainConfig:
    """Training. `mode` 'supervised' (DCL + CE on dense labels) or 'self_supervised' (distillation of
    open_clip pixel features, no semantic labels); `semantic_loss` 'dcl' or 'cosine' (direct feature
    regression onto the class text embedding, the ablation). Loss weights scale each term; `w_align`
    adds that cosine regression to DCL, keeping features near the text manifold (synonyms, unknowns);
    `w_partial` weighs the partial-label loss of voxels known only to be stuff (box-only real labels).
    `real_fraction` of every batch's positions take real samples when the dataset holds both real and
    synthetic ones (0 = draw from all samples alike). Augmentation (loc_core/train/augment.py):
    `camera_dropout` probability that a sample loses every camera, `camera_drop_each` that it loses
    one camera, `appearance_jitter` colour/blur/noise strength (0-1), `rotation_augment` probability
    of a random quarter turn of the whole sample about the ego z axis, `height_shift` probability of
    moving it up or down by 1 to `max_height_shift_voxels` whole voxels, `ground_warp` probability of
    bending it under a smooth ground height field zero at the ego, up to `max_ground_grade` (rise per
    metre) of tilt and as much again of bowl at 40 m, `history_cut` probability that a sample holding
    earlier frames' points (a cache made with `loc-train --earlier-frames K`) keeps only those up to a
    random age (0 to all), `beam_dropout` probability that a 64-beam sample loses every other ring
    (loc_core/train/beams.py). `free_space_targets`: voxels that the sample's own sweep sees through
    (loc_core/geometry/free_space.py) are free targets of the geometry loss where the labels' mask
    says nothing. `precision` 'fp32', 'bf16' or 'auto' (as `InferenceConfig.precision`):
    the network forward under bfloat16 autocast (the losses stay float32); the device is
    `inference.device`. `class_names` 'standard' (one prompt per class) or 'many' (each step gives
    every class one of its names from loc_core/data/class_names.py, and one of `text.templates`; the
    standard prompt with probability `standard_name_share`). `w_outlier` weighs outlier exposure
    (loc_core/losses/outlier.py): occupied voxels of novel objects in the training towns get their
    match score (smooth maximum at `outlier_temperature`) pushed below `outlier_margin`.
    `w_pixel_distill` (supervised mode) weighs pixel-feature distillation from the 2D teacher: on
    samples cached with `loc-train --pixel-teacher`, the occupied sampled voxels a camera sees are
    pulled (cosine) onto the teacher's class probabilities at their projection times the prompt
    embeddings of the Occ3D classes its classes map to (0 = off)."""

    mode: str = 'supervised'
    semantic_loss: str = 'dcl'
    steps: int = 2000
    batch_size: int = 2
    lr: float = 2e-3
    weight_decay: float = 1e-4
    seed: int = 0
    temperature: float = 0.07
    class_balance: bool = True
    voxels_per_frame: int = 4096
    w_geometry: float = 1.0
    geometry_class_balance: bool = False  # rare classes' occupied voxels weigh more in the geometry loss
    w_dcl: float = 1.0
    w_ce: float = 0.5
    w_align: float = 0.0
    w_distill: float = 1.0
    w_partial: float = 0.0
    teacher_model: str = 'ViT-B-32'
    teacher_pretrained: str = ''
    log_every: int = 20
    checkpoint_every: int = 200
    real_fraction: float = 0.0
    camera_dropout: float = 0.0
    camera_drop_each: float = 0.0
    appearance_jitter: float = 0.0
    rotation_augment: float = 0.0
    height_shift: float = 0.0
    max_height_shift_voxels: int = 2
    ground_warp: float = 0.0
    max_ground_grade: float = 0.03
    history_cut: float = 0.0
    beam_dropout: float = 0.0  # share of 64-beam samples that lose every other ring (loc_core/train/beams.py)
    free_space_targets: bool = False  # voxels the sample's sweep sees through are free targets where labels say nothing
    precision: str = 'fp32'
    class_names: str = 'standard'
    standard_name_share: float = 0.5
    w_outlier: float = 0.0
    outlier_margin: float = 0.5
    outlier_temperature: float = 0.1
    w_pixel_distill: float = 0.0

    def validate(self) -> None:
        _check_precision(self.precision, 'train.precision')
        if not self.w_pixel_distill >= 0:
            raise ConfigError(f'train.w_pixel_distill must be >= 0, got {self.w_pixel_distill}')
        if self.w_outlier < 0 or self.outlier_temperature <= 0 or not -1.0 <= self.outlier_margin <= 1.0:
            raise ConfigError('train.w_outlier must be >= 0, train.outlier_temperature > 0 and '
                              'train.outlier_margin in [-1, 1]')
        if self.class_names not in ('standard', 'many'):
            raise ConfigError(f"train.class_names must be 'standard' or 'many', got {self.class_names!r}")
        if self.max_height_shift_voxels < 0:
            raise ConfigError('train.max_height_shift_voxels must be >= 0')
        if not 0.0 <= self.max_ground_grade <= 0.2:
            raise ConfigError(f'train.max_ground_grade must be in [0, 0.2], got {self.max_ground_grade}')
        for name in ('real_fraction', 'camera_dropout', 'camera_drop_each', 'appearance_jitter', 'rotation_augment',
                     'height_shift', 'ground_warp', 'history_cut', 'beam_dropout', 'standard_name_share'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(f'train.{name} must be in [0, 1], got {getattr(self, name)}')
        if self.mode not in ('supervised', 'self_supervised'):
            raise ConfigError(f"train.mode must be 'supervised' or 'self_supervised', got {self.mode!r}")
        if self.semantic_loss not in ('dcl', 'cosine'):
            raise ConfigError(f"train.semantic_loss must be 'dcl' or 'cosine', got {self.semantic_loss!r}")
        for name in ('steps', 'batch_size', 'voxels_per_frame', 'log_every', 'checkpoint_every'):
            if getattr(self, name) < 1:
                raise ConfigError(f'train.{name} must be >= 1')
        if not (self.lr > 0 and self.temperature > 0):
            raise ConfigError('train.lr and train.temperature must be positive')


@dataclass
class LocConfig:
    grid: GridConfig = field(default_factory=GridConfig)
    text: TextConfig = field(default_factory=TextConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    inference: InferenceConfig = field(default_factory=InferenceConfig)
    train: TrainConfig = field(default_factory=TrainConfig)

    def validate(self) -> 'LocConfig':
        for f in fields(self):
            getattr(self, f.name).validate()
        return self

    def to_dict(self) -> dict:
        return _plain(asdict(self))

    @classmethod
    def from_dict(cls, data: dict | None) -> 'LocConfig':
        return _build(cls, data or {}, 'config').validate()

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, sort_keys=True)

    def save(self, path) -> None:
        from loc_core.data.occ3d_io import atomic_write_bytes

        path = Path(path)
        if path.suffix in ('.yaml', '.yml'):
            import yaml

            text = yaml.safe_dump(self.to_dict(), sort_keys=True)
        else:
            text = self.to_json()
        atomic_write_bytes(path, text.encode())

    @classmethod
    def load(cls, path) -> 'LocConfig':
        path = Path(path)
        try:
            text = path.read_text()
        except OSError as exc:
            raise ConfigError(f'cannot read config {path}: {exc}') from exc
        try:
            if path.suffix in ('.yaml', '.yml'):
                import yaml

                data = yaml.safe_load(text)
            else:
                data = json.loads(text)
        except Exception as exc:  # yaml and json raise their own error types
            raise ConfigError(f'config {path} is not valid {path.suffix[1:] or "JSON"}: {exc}') from exc
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f'config {path} must hold a mapping, got {type(data).__name__}')
        return cls.from_dict(data)


def _check_precision(value, where: str) -> None:
    if value not in PRECISIONS:
        raise ConfigError(f'{where} must be one of {list(PRECISIONS)}, got {value!r}')


def _build(cls, data, where: str):
    if not isinstance(data, dict):
        raise ConfigError(f'{where} must be a mapping, got {type(data).__name__}')
    known = {f.name: f for f in fields(cls)}
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ConfigError(f'{where}: unknown keys {unknown} (known: {sorted(known)})')
    kwargs = {}
    defaults = cls()
    for name, value in data.items():
        default = getattr(defaults, name)
        if is_dataclass(default):
            kwargs[name] = _build(type(default), value, f'{where}.{name}')
        else:
            kwargs[name] = _coerce(value, default, f'{where}.{name}')
    return cls(**kwargs)


def _coerce(value, default, where: str):
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigError(f'{where} must be true/false, got {value!r}')
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f'{where} must be a number, got {value!r}')
        if isinstance(default, int) and not float(value).is_integer():
            raise ConfigError(f'{where} must be an integer, got {value!r}')
        return type(default)(value)
    if isinstance(default, tuple):
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f'{where} must be a list, got {value!r}')
        return tuple(value)
    if isinstance(default, str) and not isinstance(value, str):
        raise ConfigError(f'{where} must be a string, got {value!r}')
    if isinstance(default, dict) and not isinstance(value, dict):
        raise ConfigError(f'{where} must be a mapping, got {value!r}')
    return value


def _plain(value):
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value
