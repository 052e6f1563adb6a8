"""`loc_node` parameters: declarations with descriptors (ranges, read-only flags, descriptions) and
the validation of live changes. The sections mirror `config/loc.yaml`:

* model: model_config, checkpoint, device, precision, backend, onnx_path, num_threads, hidden_voxels, prompts,
  prompt_templates, unknown_threshold, score_threshold;
* inputs: calibration_file, camera_topics, lidar_topic, camera_names, input_qos, decode_full_resolution,
  decode_threads, sync_slop_s, sync_queue_size, sync_max_wait_s, allow_missing_cameras,
  time_jump_threshold_s, time_jump_forward_s;
* outputs: base_frame, diagnostics_period_s.

Live changes: prompts, unknown_threshold, score_threshold and sync_slop_s. Everything that shapes
subscriptions, the model or frames is read-only (changing it needs a restart)."""
from __future__ import annotations

import unicodedata
from dataclasses import dataclass

from loc_core.config import BACKENDS, HIDDEN_VOXEL_MODES, PRECISIONS
from loc_core.data.vocabulary import OCC3D_CLASS_NAMES, OCC3D_PROMPTS

MAX_PROMPTS = 128       # labels 0..253 are prompt indices; keep messages and encoding cheap
MAX_PROMPT_CHARS = 100
QOS_CHOICES = ('sensor_data', 'reliable')


@dataclass(frozen=True)
class ParameterSpec:
    name: str
    default: object
    description: str
    read_only: bool = True
    float_range: tuple[float, float] | None = None
    integer_range: tuple[int, int] | None = None
    constraints: str = ''  # ParameterDescriptor.additional_constraints (shown by `ros2 param describe`)


SPECS = (
    # model
    ParameterSpec('model_config', '', 'Model config JSON (empty = the packaged default).'),
    ParameterSpec('checkpoint', '', "Model checkpoint file, or a packaged one: 'real' (real sensors), 'demo' "
                  "(synthetic world; empty = this default), 'none' (untrained)."),
    ParameterSpec('device', 'cpu', "Torch device for inference, e.g. 'cpu' or 'cuda:0'.",
                  constraints="'cpu', 'cuda' or 'cuda:N'"),
    ParameterSpec('precision', 'auto', "Network forward precision: 'fp32', 'bf16' (bfloat16 autocast; prompt "
                  "similarities stay float32) or 'auto' (bf16 where the device has bf16 units: a GPU with bf16, a CPU "
                  'with AVX512-BF16 or AMX; else fp32). Mirrors loc_core inference.precision.',
                  constraints='one of: ' + ', '.join(PRECISIONS)),
    ParameterSpec('backend', 'torch', "How the network runs: 'torch' (eager PyTorch) or 'onnxruntime' (its ONNX "
                  'export under ONNX Runtime, exported at startup when needed; the prompt step stays in PyTorch, so '
                  'prompts still change live). Mirrors loc_core inference.backend.',
                  constraints='one of: ' + ', '.join(BACKENDS)),
    ParameterSpec('onnx_path', '', 'ONNX export folder (loc-export --onnx) for backend onnxruntime; empty = a cache '
                  'folder named by the network digest. Mirrors loc_core inference.onnx_path.'),
    ParameterSpec('num_threads', 0, 'CPU threads of the network and the prompt step (torch intra-op threads, or '
                  "onnxruntime's); 0 = the model config's / checkpoint's (1 for the shipped ones). Mirrors loc_core "
                  'inference.num_threads.', integer_range=(0, 64)),
    ParameterSpec('hidden_voxels', 'from_above', "The prompt step on every occupied voxel ('classify'), or not on the "
                  "hidden ones, whose six face neighbours are all occupied ('from_above': they take the class of the "
                  'nearest visible voxel above them; no sensor sees them). Mirrors loc_core inference.hidden_voxels.',
                  constraints='one of: ' + ', '.join(HIDDEN_VOXEL_MODES)),
    ParameterSpec('prompts', list(OCC3D_PROMPTS), 'Text prompts = the classes; label i is prompts[i]. '
                  f'Non-empty, unique, at most {MAX_PROMPTS}, each 1-{MAX_PROMPT_CHARS} printable characters.',
                  read_only=False, constraints=f'1-{MAX_PROMPTS} unique prompts (ignoring case), each 1-'
                  f'{MAX_PROMPT_CHARS} printable characters'),
    ParameterSpec('prompt_templates', [''],
                  "Sentence templates each prompt is embedded with, '{}' marks the prompt "
                  '(empty = those of the model config / checkpoint).', constraints="each contains '{}' once"),
    ParameterSpec('unknown_threshold', 0.0, 'Occupied voxels whose match score (best cosine similarity to the '
                  "prompts, or at the checkpoint's unknown_temperature T its smooth maximum, at most 1 + T ln P; plus "
                  "a ln|W h| with the checkpoint's unknown_norm_weight a) "
                  'is below this are published as unknown (default: the model config / checkpoint value).',
                  read_only=False, float_range=(-1.0, 7.0)),
    ParameterSpec('score_threshold', 0.5, 'A voxel is occupied when its occupancy probability reaches this '
                  '(default: the model config / checkpoint occupancy_threshold).', read_only=False, float_range=(0.01, 0.99)),
    # inputs
    ParameterSpec('calibration_file', '', 'Rig calibration YAML (LiDAR and camera -> base extrinsics, topics); '
                  'empty = extrinsics from /tf_static and intrinsics from CameraInfo (needs camera_topics).'),
    ParameterSpec('camera_topics', [''], 'Without calibration_file: the cameras\' image topics (Image, or '
                  "CompressedImage when ending in '/compressed'); each camera's CameraInfo is the sibling topic "
                  "camera_info (/cam_front/image_rect/compressed -> /cam_front/camera_info) and its name the "
                  'namespace (cam_front). Ignored with calibration_file.'),
    ParameterSpec('lidar_topic', '', 'PointCloud2 topic (empty = the one in the calibration file, else '
                  '/lidar_top/points).'),
    ParameterSpec('camera_names', [''], 'Cameras to use by calibration name (empty = all in the calibration).'),
    ParameterSpec('input_qos', 'sensor_data', 'Input QoS profile: sensor_data (best effort) or reliable.',
                  constraints='one of: ' + ', '.join(QOS_CHOICES)),
    ParameterSpec('sync_slop_s', 0.05, 'Largest stamp difference between the LiDAR and a camera message '
                  'of one frame.', read_only=False, float_range=(0.001, 1.0)),
    ParameterSpec('sync_queue_size', 10, 'LiDAR messages that may wait for their cameras.',
                  integer_range=(1, 100)),
    ParameterSpec('decode_full_resolution', False, 'Decode compressed images at full size; by default JPEGs '
                  "are decoded at 1/2, 1/4 or 1/8 when that still covers the model's image input size."),
    ParameterSpec('decode_threads', 2, 'Threads decoding the camera images of one frame.', integer_range=(1, 16)),
    ParameterSpec('sync_max_wait_s', 0.3, 'A LiDAR message still missing a camera after newer LiDAR data '
                  'this much later is dropped (or, with allow_missing_cameras, predicted without it).',
                  float_range=(0.01, 10.0)),
    ParameterSpec('allow_missing_cameras', False, 'When a camera has nothing within sync_slop_s of a LiDAR scan '
                  '(silent, or stamps too far apart), predict from the LiDAR and the cameras that did match '
                  '(LiDAR only when none did) instead of dropping the scan.'),
    ParameterSpec('time_jump_threshold_s', 1.0, 'An input stamp older than its topic\'s previous one by more '
                  'than this is a jump back in time (a looped or restarted bag, a restarted driver): the '
                  'synchroniser resets. Smaller steps back are dropped as out of order.', float_range=(0.01, 3600.0)),
    ParameterSpec('time_jump_forward_s', 5.0, 'A LiDAR stamp newer than the previous LiDAR stamp by more '
                  'than this is a jump forward in time: the synchroniser resets.', float_range=(0.1, 86400.0)),
    # outputs
    ParameterSpec('base_frame', '', 'Frame of the outputs (empty = the calibration base frame).'),
    ParameterSpec('diagnostics_period_s', 1.0, 'Period of /diagnostics.', float_range=(0.1, 60.0)),
)
SPEC_BY_NAME = {spec.name: spec for spec in SPECS}
LIVE_PARAMETERS = tuple(spec.name for spec in SPECS if not spec.read_only)
# declared once the model is loaded: their default is the model's own (e.g. a checkpoint's tuned value)
MODEL_DEFAULTED = ('unknown_threshold', 'score_threshold')


class InvalidParameter(ValueError):
    """A parameter value that is refused; the message is the reason given to the caller."""


def validate_prompts(prompts) -> tuple[str, ...]:
    """Clean and check a prompt list: each stripped, non-empty, at most MAX_PROMPT_CHARS printable
    characters; unique ignoring case; 1..MAX_PROMPTS of them. Returns the stripped tuple."""
    if isinstance(prompts, str) or not hasattr(prompts, '__iter__'):
        raise InvalidParameter('prompts must be a list of strings')
    cleaned = []
    for i, prompt in enumerate(prompts):
        if not isinstance(prompt, str):
            raise InvalidParameter(f'prompt {i} is not a string')
        text = prompt.strip()
        if not text:
            raise InvalidParameter(f'prompt {i} is empty')
        if len(text) > MAX_PROMPT_CHARS:
            raise InvalidParameter(f'prompt {i} has {len(text)} characters (max {MAX_PROMPT_CHARS})')
        if any(unicodedata.category(ch).startswith('C') for ch in text):
            raise InvalidParameter(f'prompt {i} contains control characters')
        cleaned.append(text)
    if not cleaned:
        raise InvalidParameter('prompts must not be empty')
    if len(cleaned) > MAX_PROMPTS:
        raise InvalidParameter(f'{len(cleaned)} prompts (max {MAX_PROMPTS})')
    seen = {}
    for i, text in enumerate(cleaned):
        key = text.lower()
        if key in seen:
            raise InvalidParameter(f'prompt {i} {text!r} repeats prompt {seen[key]}')
        seen[key] = i
    return tuple(cleaned)


def validate_templates(templates) -> tuple[str, ...]:
    """Each given template contains '{}' exactly once; empty strings are ignored (none = the
    model's own templates)."""
    templates = tuple(str(t) for t in templates if t)
    if any(t.count('{}') != 1 for t in templates):
        raise InvalidParameter("each prompt template needs exactly one '{}'")
    return templates


def prompt_class_ids(prompts) -> tuple[int, ...]:
    """Occ3D id per prompt where the text is an Occ3D class name or default prompt, else -1."""
    lookup = {name.replace('_', ' '): i for i, name in enumerate(OCC3D_CLASS_NAMES[:-1])}
    lookup.update({p: i for i, p in enumerate(OCC3D_PROMPTS)})
    return tuple(lookup.get(p.strip().lower().replace('_', ' '), -1) for p in prompts)


def check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise InvalidParameter(f'{name} must be one of {list(choices)}, got {value!r}')


def declare_all(node, names=None, defaults: dict | None = None) -> dict:
    """Declare the parameters `names` (default: all but MODEL_DEFAULTED) on `node` with their
    descriptors; `defaults` replaces spec defaults (clamped into the range). An override from the
    command line or a params file wins over either. Returns name -> current value."""
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.exceptions import InvalidParameterTypeException, InvalidParameterValueException

    names = [s.name for s in SPECS if s.name not in MODEL_DEFAULTED] if names is None else list(names)
    values = {}
    for spec in (SPEC_BY_NAME[name] for name in names):
        default = (defaults or {}).get(spec.name, spec.default)
        if spec.float_range:
            default = float(min(max(default, spec.float_range[0]), spec.float_range[1]))
        descriptor = ParameterDescriptor(description=spec.description, read_only=spec.read_only,
                                         additional_constraints=spec.constraints)
        if spec.float_range:
            descriptor.floating_point_range = [FloatingPointRange(
                from_value=spec.float_range[0], to_value=spec.float_range[1], step=0.0)]
        if spec.integer_range:
            descriptor.integer_range = [IntegerRange(
                from_value=spec.integer_range[0], to_value=spec.integer_range[1], step=1)]
        try:
            values[spec.name] = node.declare_parameter(spec.name, default, descriptor).value
        except (InvalidParameterTypeException, InvalidParameterValueException) as exc:
            # a params file or -p value of the wrong type or out of range: one line, not a traceback
            raise InvalidParameter(f'{spec.name}: {exc}') from exc
    return values


def startup_settings(values: dict) -> dict:
    """Validate the declared values at startup; raises InvalidParameter with the reason."""
    out = dict(values)
    out['prompts'] = validate_prompts(values['prompts'])
    out['prompt_templates'] = validate_templates(values['prompt_templates'])
    out['camera_names'] = tuple(n for n in values['camera_names'] if n)
    out['camera_topics'] = tuple(t for t in values['camera_topics'] if t)
    check_choice('input_qos', values['input_qos'], QOS_CHOICES)
    check_choice('precision', values['precision'], PRECISIONS)
    check_choice('backend', values['backend'], BACKENDS)
    check_choice('hidden_voxels', values['hidden_voxels'], HIDDEN_VOXEL_MODES)
    return out
