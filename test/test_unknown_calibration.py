"""The unknown threshold is calibrated on validation towns and written into a copy of the checkpoint."""
import json

import numpy as np

from loc_core.models.checkpoint import load_checkpoint
from loc_core.train import calibrate

DEMO = 'loc_core/checkpoints/loc_demo_fusion.safetensors'


def test_calibrate_writes_the_threshold_of_the_validation_towns(tmp_path, capsys):
    out = tmp_path / 'calibrated.safetensors'
    assert calibrate.main(['--checkpoint', DEMO, '--synthetic-seeds', '500', '--frames-per-seed', '1',
                           '--keep', '0.9', '--norm-weight', '0', '--out', str(out)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert set(report['thresholds']) == {'standard', 'synonyms', 'renamed', 'validation_words'}
    assert report['frames'] == 1 and report['seeds'] == '500'
    highest = 1.0 + report['temperature'] * np.log(17)  # without the norm term: bounded
    assert all(-1.0 <= t <= highest for t in report['thresholds'].values())
    loaded = load_checkpoint(out)
    assert loaded.config.inference.unknown_threshold == report['thresholds']['standard']
    original = load_checkpoint(DEMO)
    for name, tensor in original.model.state_dict().items():
        np.testing.assert_array_equal(tensor.numpy(), loaded.model.state_dict()[name].numpy())
    # keeping more known voxels known can only lower the threshold
    assert calibrate.main(['--checkpoint', DEMO, '--synthetic-seeds', '500', '--frames-per-seed', '1',
                           '--keep', '0.99', '--norm-weight', '0']) == 0
    stricter = json.loads(capsys.readouterr().out)
    assert stricter['thresholds']['standard'] <= report['thresholds']['standard']


def test_calibrate_writes_a_norm_weight_and_an_occupancy_threshold_beside_the_threshold(tmp_path, capsys):
    out = tmp_path / 'weighted.safetensors'
    args = ['--checkpoint', DEMO, '--synthetic-seeds', '500', '--frames-per-seed', '1', '--keep', '0.9']
    assert calibrate.main([*args, '--norm-weight', '0', '--temperature', '0.1']) == 0
    plain = json.loads(capsys.readouterr().out)
    assert calibrate.main([*args, '--norm-weight', '0.3', '--temperature', '0.1', '--occupancy-threshold', '0.65',
                           '--prompt-projection', 'off', '--template', '{}', '--template', 'the {}',
                           '--out', str(out)]) == 0
    weighted = json.loads(capsys.readouterr().out)
    assert weighted['norm_weight'] == 0.3 and plain['norm_weight'] == 0.0
    assert weighted['occupancy_threshold'] == 0.65 and weighted['templates'] == ['{}', 'the {}']
    assert weighted['prompt_projection'] is False and plain['prompt_projection'] is True  # the demo's own
    assert weighted['thresholds']['standard'] != plain['thresholds']['standard']
    loaded = load_checkpoint(out).config.inference
    assert (loaded.unknown_norm_weight, loaded.unknown_temperature, loaded.occupancy_threshold) == (0.3, 0.1, 0.65)
    assert loaded.unknown_threshold == weighted['thresholds']['standard']
    assert load_checkpoint(out).config.text.templates == ('{}', 'the {}') and loaded.prompt_projection is False


def test_bad_arguments_are_clear_errors(tmp_path, capsys):
    assert calibrate.main(['--checkpoint', DEMO, '--keep', '1.5']) == 2
    assert 'keep' in capsys.readouterr().err
    assert calibrate.main(['--checkpoint', DEMO, '--norm-weight', '2']) == 2
    assert 'norm-weight' in capsys.readouterr().err
    assert calibrate.main(['--checkpoint', DEMO, '--occupancy-threshold', '1']) == 2
    assert 'occupancy-threshold' in capsys.readouterr().err
    assert calibrate.main(['--checkpoint', DEMO, '--template', 'no placeholder']) == 2
    assert 'templates' in capsys.readouterr().err
    assert calibrate.main(['--checkpoint', str(tmp_path / 'missing.safetensors')]) == 2
