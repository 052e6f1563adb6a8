"""Device and precision: prediction and training on a torch device at fp32 and bf16 (finite, bf16
close to fp32), everything the network uses on its device, precision settings validated, and the
GPU check script on the CPU path. Every test runs on the CPU; the CUDA variants run where
`torch.cuda.is_available()` (no GPU here: they are skipped)."""
import json
import os
import re
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from toy_world import toy_config, toy_frame

from loc_core.config import PRECISIONS, ConfigError, LocConfig
from loc_core.inference.predictor import LocPredictor
from loc_core.inference.result import FREE_LABEL
from loc_core.models.checkpoint import load_checkpoint, save_checkpoint
from loc_core.models.inputs import prepare_images
from loc_core.models.precision import forward_precision, native_bf16, resolve_precision, to_float32
from loc_core.models.projection import feature_indices
from loc_core.train.samples import TrainingSample
from loc_core.train.trainer import Trainer, training_device

ROOT = Path(__file__).resolve().parent.parent
NO_CUDA = not torch.cuda.is_available()
DEVICES = [pytest.param('cpu', id='cpu'),
           pytest.param('cuda', id='cuda', marks=pytest.mark.skipif(NO_CUDA, reason='no CUDA device'))]
TRAIN = {'lr': 5e-3, 'batch_size': 2, 'checkpoint_every': 1000}


def _same_device(tensor: torch.Tensor, device: torch.device) -> bool:
    """`device` without an index ('cuda') matches any index of its type."""
    return tensor.device.type == device.type and (device.index is None or tensor.device.index == device.index)


def _predictor(device: str, precision: str = 'fp32') -> LocPredictor:
    config = toy_config()
    config.inference.checkpoint = 'none'
    config.inference.device = device
    config.inference.precision = precision
    config.inference.occupancy_threshold = 0.3  # random weights: occupancy logits start near -2
    torch.manual_seed(0)
    predictor = LocPredictor(config)
    with torch.no_grad():
        predictor.model.occupancy_head.conv.bias.fill_(0.0)  # about half the voxels occupied
    return predictor


def _with_precision(predictor: LocPredictor, precision: str) -> LocPredictor:
    predictor.config = replace(predictor.config, inference=replace(predictor.config.inference, precision=precision))
    return predictor


@pytest.fixture(scope='module', params=DEVICES)
def predictor(request):
    return _predictor(request.param)


@pytest.fixture(scope='module')
def samples():
    return [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(2)]


def test_bf16_prediction_is_finite_and_close_to_fp32(predictor):
    frame = toy_frame(1)
    full = _with_precision(predictor, 'fp32').predict(frame)
    half = _with_precision(predictor, 'bf16').predict(frame)
    _with_precision(predictor, 'fp32')
    for result in (full, half):
        assert np.isfinite(result.occupancy).all() and np.isfinite(result.scores).all()
        assert np.isfinite(result.feature_coefficients).all()
        assert result.occupancy.dtype == np.float32 and result.scores.dtype == np.float32
        assert result.feature_coefficients.dtype == np.float32
    assert np.abs(full.occupancy - half.occupancy).max() < 0.05  # bf16 keeps about 3 significant digits
    both = (full.labels != FREE_LABEL) & (half.labels != FREE_LABEL)
    assert both.sum() > 0.9 * (full.labels != FREE_LABEL).sum()  # the same voxels occupied, but near the threshold
    assert (full.labels[both] == half.labels[both]).mean() > 0.9  # mostly the same class
    assert np.abs(full.scores[both] - half.scores[both]).max() < 0.1


def test_network_tables_and_prompts_live_on_the_device_after_predict(predictor):
    device = predictor.device
    for seed in (1, 2, 3):  # one rig, consecutive frames: the projection tables get cached
        predictor.predict(toy_frame(seed))
    tables = predictor.model.projections.tensors()
    assert tables, 'a fixed rig should have cached projection tables'
    tensors = dict(predictor.model.named_parameters())
    tensors.update(predictor.model.named_buffers())
    tensors.update({f'projection table {i}': t for i, t in enumerate(tables)})
    tensors['prompt embeddings'] = predictor._prompts.embeddings
    tensors.update({f'prompt operator {i}': t for i, t in enumerate(predictor._prompts.operator)})
    assert not [name for name, t in tensors.items() if t.is_meta]  # nothing left unmaterialised on 'meta'
    misplaced = [f'{name}: {t.device}' for name, t in tensors.items() if not _same_device(t, device)]
    assert not misplaced, misplaced
    assert all(p.dtype == torch.float32 for p in predictor.model.parameters())  # autocast casts copies only


def test_projection_stays_float32_inside_bf16_autocast(predictor):
    frame = toy_frame(4)
    _, rig = prepare_images(frame, predictor.model.image_size)
    points = torch.as_tensor(predictor.grid.all_centers(), device=predictor.device) * 4.0  # up to 26 m out
    reference = feature_indices(points, rig, predictor.model.feature_hw)
    with forward_precision(predictor.device, 'bf16'):
        inside = feature_indices(points, rig, predictor.model.feature_hw)
    assert (reference >= 0).any()
    assert torch.equal(reference, inside)


@pytest.mark.parametrize('device', DEVICES)
def test_one_train_step_per_precision(samples, tmp_path, device):
    losses = {}
    for precision in PRECISIONS:
        trainer = Trainer(toy_config(precision=precision, **TRAIN), samples, tmp_path / precision, device=device)
        assert trainer.device.type == device
        history = [trainer.train_step() for _ in range(2)]
        assert all(np.isfinite(v) for record in history for v in record.values())
        losses[precision] = history[0]['loss']
        for name, tensor in list(trainer.model.named_parameters()) + [('text', trainer.text),
                                                                    ('stuff', trainer.stuff_prompts)]:
            assert _same_device(tensor, trainer.device) and not tensor.is_meta, name
        assert all(p.grad is None or p.grad.dtype == torch.float32 for p in trainer.model.parameters())
    # the same initial weights and batch: the first losses agree to bf16 accuracy
    assert abs(losses['bf16'] - losses['fp32']) < 0.02 * abs(losses['fp32']), losses


@pytest.mark.parametrize('device', DEVICES)
def test_checkpoint_loads_onto_the_device(tmp_path, device):
    trainer = Trainer(toy_config(**TRAIN), [TrainingSample.from_frame(toy_frame(0), (64, 32))], tmp_path,
                      device=device)
    path = save_checkpoint(tmp_path / 'model.safetensors', trainer.model, trainer.config, 0,
                           trainer.text_encoder.identity)
    loaded = load_checkpoint(path, device=device)
    assert all(_same_device(t, torch.device(device)) for t in loaded.model.state_dict().values())
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value.cpu(), loaded.model.state_dict()[key].cpu()), key


def test_precision_settings_are_validated_and_default_to_fp32():
    config = LocConfig()
    assert config.inference.precision == config.train.precision == 'fp32'
    loaded = LocConfig.from_dict({'inference': {'precision': 'bf16'}, 'train': {'precision': 'bf16'}})
    assert loaded.inference.precision == loaded.train.precision == 'bf16'
    assert LocConfig.from_dict(loaded.to_dict()) == loaded
    for section in ('inference', 'train'):
        with pytest.raises(ConfigError, match=f'{section}.precision'):
            LocConfig.from_dict({section: {'precision': 'fp16'}})
    with pytest.raises(ValueError):
        forward_precision('cpu', 'fp16')


def test_auto_precision_is_bf16_exactly_where_the_device_has_bf16_units(predictor):
    native = native_bf16(predictor.device)
    assert resolve_precision(predictor.device, 'auto') == ('bf16' if native else 'fp32')
    assert resolve_precision('meta', 'auto') == 'fp32' and resolve_precision('cpu', 'bf16') == 'bf16'
    frame = toy_frame(2)
    expected = _with_precision(predictor, 'bf16' if native else 'fp32').predict(frame)
    automatic = _with_precision(predictor, 'auto').predict(frame)
    _with_precision(predictor, 'fp32')
    assert np.array_equal(expected.labels, automatic.labels)
    assert np.array_equal(expected.occupancy, automatic.occupancy)
    with pytest.raises(ValueError, match='precision'):
        resolve_precision('cpu', 'fp16')


def test_to_float32_casts_floating_tensors_only():
    value = {'a': 1}
    cast = to_float32([torch.ones(2, dtype=torch.bfloat16), (torch.arange(3), value)])
    assert cast[0].dtype == torch.float32 and cast[1][0].dtype == torch.int64 and cast[1][1] is value


def test_cpu_thread_settings_only_for_a_cpu_device(monkeypatch):
    from loc_core import cpu_runtime

    calls = []
    monkeypatch.setattr(cpu_runtime, 'limit_cpu_threads', lambda n: calls.append(n))
    cpu_runtime.tune_cpu_runtime(3, 'cuda:0')
    cpu_runtime.tune_cpu_runtime(3, torch.device('cuda'))
    assert calls == []
    cpu_runtime.tune_cpu_runtime(3, 'cpu')
    assert calls == [3]


@pytest.mark.skipif(not NO_CUDA, reason='checks the message of a machine without CUDA')
def test_cuda_without_a_gpu_is_a_clear_error():
    config = toy_config()
    config.inference.checkpoint, config.inference.device = 'none', 'cuda'
    with pytest.raises(ValueError, match='CUDA is not available'):
        LocPredictor(config)
    with pytest.raises(ValueError, match='CUDA is not available'):
        training_device('cuda')
    assert training_device('cpu', rank=1, world=2) == torch.device('cpu')


def test_node_precision_parameter_mirrors_the_config():
    from loc_ros.parameters import SPEC_BY_NAME, SPECS, InvalidParameter, startup_settings
    from loc_ros.predictor_backend import model_config

    # the library defaults to fp32 (figures that do not depend on the CPU); the node to what is fast where it runs
    assert LocConfig().inference.precision == 'fp32' and SPEC_BY_NAME['precision'].default == 'auto'
    values = {spec.name: spec.default for spec in SPECS}
    assert startup_settings(values)['precision'] == 'auto'
    assert model_config({**startup_settings(values), 'checkpoint': 'none'}).inference.precision == 'auto'
    with pytest.raises(InvalidParameter, match='precision'):
        startup_settings({**values, 'precision': 'fp16'})
    settings = startup_settings({**values, 'precision': 'bf16', 'checkpoint': 'none'})
    assert model_config(settings).inference.precision == 'bf16'


def _run_gpu_check(tmp_path, device: str) -> tuple[str, dict]:
    out = tmp_path / 'gpu_check.json'
    env = {**os.environ, 'OMP_NUM_THREADS': '1', 'HF_HUB_OFFLINE': '1', 'LOC_PYTHON': sys.executable,
           'LOC_ONNX_CACHE': str(tmp_path / 'onnx')}
    proc = subprocess.run([str(ROOT / 'bench' / 'gpu_check.sh'), '--device', device, '--quick', '--json', str(out)],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout, json.loads(out.read_text())


@pytest.mark.parametrize('device', DEVICES)
def test_gpu_check_script_prints_numbers(tmp_path, device):
    stdout, figures = _run_gpu_check(tmp_path, device)
    memory = 'gpu_memory_peak_mib' if device == 'cuda' else 'host_rss_peak_mib'
    header = re.search(r'^metric\s+(\S+)\s+(\S+)\s*$', stdout, re.M)
    measured = ('fp32', 'bf16')  # 'auto' is one of the two
    assert header and header.groups() == measured, stdout
    for name in ('predict_p50_ms', 'predict_frames_per_s', f'predict_{memory}', 'train_steps_per_s',
                 f'train_{memory}'):
        row = re.search(rf'^{name}\s+(\S+)\s+(\S+)\s*$', stdout, re.M)
        assert row, f'{name} missing:\n{stdout}'
        assert all(float(v) > 0 for v in row.groups()), row.group(0)  # numbers, no timing bounds
        assert all(figures['results'][p][name] > 0 for p in measured)
    assert 'train losses finite: True' in stdout
    assert figures['info']['device'].startswith(device)
    onnx = figures['onnxruntime']  # the same network under the onnxruntime backend
    assert onnx['predict_p50_ms'] > 0 and onnx['label_agreement_with_torch'] >= 0.999
    assert onnx['providers'][0] == ('CUDAExecutionProvider' if device == 'cuda' else 'CPUExecutionProvider') or \
        onnx['providers'][0] == 'TensorrtExecutionProvider'
