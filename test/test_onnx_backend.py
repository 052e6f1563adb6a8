"""The ONNX Runtime backend: export round trip on the toy network (real onnxruntime), export on
first use into a cache folder, prompt changes without a new export, the backend switch by config,
and `loc-export` on the shipped demo checkpoint."""
from dataclasses import replace

import numpy as np
import pytest
import torch
from toy_world import toy_config, toy_frame

from loc_core.config import ConfigError, LocConfig
from loc_core.inference.onnx_export import META_FILE, read_export_meta
from loc_core.inference.predictor import LocPredictor
from loc_core.inference.result import FREE_LABEL
from loc_core.models.checkpoint import Checkpoint
from loc_core.models.inputs import frame_to_input

PROMPTS = ('road', 'car', 'person', 'tree', 'building')


def _config(backend: str, onnx_path: str = '') -> LocConfig:
    config = toy_config()
    config.inference = replace(config.inference, checkpoint='none', occupancy_threshold=0.3, prompts=PROMPTS,
                               backend=backend, onnx_path=onnx_path, unknown_threshold=-1.0)
    return config


@pytest.fixture(scope='module')
def pair(tmp_path_factory):
    """(torch predictor, onnxruntime predictor) on the same random toy network."""
    torch.manual_seed(0)
    reference = LocPredictor(_config('torch'))
    with torch.no_grad():
        reference.model.occupancy_head.conv.bias.fill_(0.0)  # about half the voxels occupied
    folder = tmp_path_factory.mktemp('onnx') / 'toy'
    network = Checkpoint(reference.model, reference.config, 0, 'test')
    candidate = LocPredictor(_config('onnxruntime', str(folder)), checkpoint=network,
                             text_encoder=reference.text_encoder)
    return reference, candidate


def _assert_same(reference, candidate, frame):
    expected, actual = reference.predict(frame), candidate.predict(frame)
    np.testing.assert_allclose(actual.occupancy, expected.occupancy, atol=1e-5)
    assert (actual.labels == expected.labels).mean() >= 0.999
    both = (actual.labels != FREE_LABEL) & (expected.labels != FREE_LABEL)
    assert both.sum() > 100
    np.testing.assert_allclose(actual.scores[both], expected.scores[both], atol=1e-4)
    return expected, actual


def test_export_round_trip_matches_pytorch(pair):
    reference, candidate = pair
    assert candidate.onnx is not None and reference.onnx is None
    assert read_export_meta(candidate.onnx.folder)['grid_shape'] == list(reference.grid.shape)
    expected, actual = _assert_same(reference, candidate, toy_frame(3))
    if np.array_equal(expected.occupied_indices, actual.occupied_indices):
        np.testing.assert_allclose(actual.feature_coefficients, expected.feature_coefficients, atol=1e-4)
    # a frame without cameras (the node's LiDAR-only fallback) runs too
    _assert_same(reference, candidate, replace(toy_frame(4), cameras=[]))


def test_prompt_change_needs_no_new_export(pair):
    reference, candidate = pair
    meta = candidate.onnx.folder / META_FILE
    stamp = meta.stat().st_mtime_ns
    try:
        for predictor in pair:
            predictor.set_prompts(['car', 'ground'])
        _, actual = _assert_same(reference, candidate, toy_frame(5))
        assert set(np.unique(actual.labels)) <= {0, 1, FREE_LABEL}
        assert actual.prompts == ('car', 'ground')
    finally:
        for predictor in pair:
            predictor.set_prompts(PROMPTS)
    assert meta.stat().st_mtime_ns == stamp


def test_export_on_first_use_into_the_cache(pair, tmp_path, monkeypatch):
    reference, _ = pair
    monkeypatch.setenv('LOC_ONNX_CACHE', str(tmp_path))
    network = Checkpoint(reference.model, reference.config, 0, 'test')
    first = LocPredictor(_config('onnxruntime'), checkpoint=network, text_encoder=reference.text_encoder)
    assert first.onnx.folder.parent == tmp_path
    stamp = (first.onnx.folder / META_FILE).stat().st_mtime_ns
    second = LocPredictor(_config('onnxruntime'), checkpoint=network, text_encoder=reference.text_encoder)
    assert second.onnx.folder == first.onnx.folder
    assert (second.onnx.folder / META_FILE).stat().st_mtime_ns == stamp  # reused, not exported again
    # an export of another network in onnx_path is refused
    other = LocPredictor(_config('torch'), text_encoder=reference.text_encoder)
    with pytest.raises(ValueError, match='another network'):
        LocPredictor(_config('onnxruntime', str(first.onnx.folder)), text_encoder=reference.text_encoder,
                     checkpoint=Checkpoint(other.model, other.config, 0, 'test'))


def test_backend_is_validated_by_the_config():
    assert LocConfig.from_dict({'inference': {'backend': 'onnxruntime'}}).inference.backend == 'onnxruntime'
    with pytest.raises(ConfigError, match='inference.backend'):
        LocConfig.from_dict({'inference': {'backend': 'tensorrt'}})
    with pytest.raises(ConfigError, match='precision'):
        LocConfig.from_dict({'inference': {'backend': 'onnxruntime', 'precision': 'bf16'}})


def test_loc_export_cli_checks_against_pytorch(tmp_path, capsys):
    from loc_core.tools.export_cli import main

    assert main(['--onnx', str(tmp_path / 'demo'), '--checkpoint', 'demo', '--frames', '1']) == 0
    out = capsys.readouterr().out
    assert 'synthetic (1 frames)' in out and 'label agreement' in out
    assert {p.name for p in (tmp_path / 'demo').iterdir()} == {'dense.onnx', 'voxels.onnx', 'export.json'}


def test_backend_node_parameter_mirrors_the_config():
    from loc_ros.parameters import SPEC_BY_NAME, InvalidParameter, startup_settings
    from loc_ros.predictor_backend import model_config

    values = {spec.name: spec.default for spec in SPEC_BY_NAME.values()}
    assert startup_settings(values)['backend'] == 'torch' == LocConfig().inference.backend
    config = model_config({**startup_settings({**values, 'backend': 'onnxruntime', 'onnx_path': '/x/y'}),
                           'checkpoint': 'none'})
    assert (config.inference.backend, config.inference.onnx_path) == ('onnxruntime', '/x/y')
    with pytest.raises(InvalidParameter, match='backend'):
        startup_settings({**values, 'backend': 'tensorrt'})


def test_the_node_reads_its_checkpoint_once(monkeypatch):
    """Startup reads the checkpoint (header, config and weights) once."""
    import loc_core.inference.predictor as predictor_module
    import loc_core.models.checkpoint as checkpoint_module
    from loc_ros.parameters import SPEC_BY_NAME, startup_settings
    from loc_ros.predictor_backend import load_predictor

    calls = []

    def counted(module, name):
        original = getattr(module, name)

        def wrapper(*args, **kwargs):
            calls.append(name)
            return original(*args, **kwargs)
        monkeypatch.setattr(module, name, wrapper)

    counted(checkpoint_module, 'read_metadata')
    counted(checkpoint_module, 'load_checkpoint')
    counted(predictor_module, 'load_checkpoint')
    values = {spec.name: spec.default for spec in SPEC_BY_NAME.values()}
    predictor = load_predictor({**startup_settings(values), 'checkpoint': 'demo'})
    assert predictor.trained and predictor.checkpoint_path.name == 'loc_demo_fusion.safetensors'
    assert sorted(calls) == ['load_checkpoint', 'read_metadata'], calls


def test_observed_free_space_network_matches_pytorch(tmp_path):
    """A network with the observed-free input channels and carving (the retrained real checkpoint's
    architecture options): the dense graph takes the free channels in the trunk's order and the
    onnxruntime backend carves the same voxels as PyTorch."""
    torch.manual_seed(1)
    config = _config('torch')
    config.model.overrides.update(free_space_input=True, carve_observed_free=True)
    reference = LocPredictor(config)
    with torch.no_grad():
        reference.model.occupancy_head.conv.bias.fill_(0.0)
    network = Checkpoint(reference.model, reference.config, 0, 'test')
    onnx_config = _config('onnxruntime', str(tmp_path / 'free'))
    onnx_config.model.overrides.update(free_space_input=True, carve_observed_free=True)
    candidate = LocPredictor(onnx_config, checkpoint=network, text_encoder=reference.text_encoder)
    frame = toy_frame(3)
    expected, _ = _assert_same(reference, candidate, frame)
    seen_through = reference.model.observed_free(frame_to_input(frame, reference.model.image_size)).numpy()
    assert seen_through.sum() > 100
    assert expected.occupancy[seen_through].max() < 1e-6  # carved in both (they match above)
