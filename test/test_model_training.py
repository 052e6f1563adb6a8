"""Training: loss goes down, data-parallel equals single-process, checkpoints round-trip, resume,
and unusable checkpoints give clear errors."""
import json

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from toy_world import ddp_worker, toy_config, toy_frame

from loc_core.inference.predictor import LocPredictor
from loc_core.models.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from loc_core.train.samples import SampleError, SampleFolder, TrainingSample, cache_frames
from loc_core.train.trainer import Trainer

TRAIN = {'lr': 5e-3, 'batch_size': 2, 'checkpoint_every': 1000}


@pytest.fixture(scope='module')
def samples():
    return [TrainingSample.from_frame(toy_frame(s), (64, 32)) for s in range(4)]


def test_a_few_steps_reduce_the_loss(samples, tmp_path):
    trainer = Trainer(toy_config(**TRAIN), samples, tmp_path)
    history = trainer.run(30)
    first = np.mean([h['loss'] for h in history[:3]])
    last = np.mean([h['loss'] for h in history[-3:]])
    assert last < 0.8 * first, (first, last)
    assert history[-1]['dcl'] < history[0]['dcl'] and history[-1]['geometry'] < history[0]['geometry']
    logged = [json.loads(line) for line in (tmp_path / 'train_log.jsonl').read_text().splitlines()]
    assert logged[-1]['step'] == 30


def test_cosine_ablation_and_self_supervised_modes_train(samples, tmp_path):
    history = Trainer(toy_config(semantic_loss='cosine', **TRAIN), samples, tmp_path / 'c').run(3)
    assert 'cosine' in history[0] and 'dcl' not in history[0]


def test_data_parallel_matches_single_process(samples, tmp_path):
    steps = 2
    single = Trainer(toy_config(**TRAIN), samples, tmp_path / 'single')
    single.run(steps)
    ctx = mp.get_context('spawn')
    procs = [ctx.Process(target=ddp_worker, args=(r, 2, str(tmp_path / 'init'), str(tmp_path / 'ddp'), steps, TRAIN))
             for r in range(2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    ddp = load_checkpoint(tmp_path / 'ddp' / 'last.safetensors')
    assert ddp.step == steps
    initial = Trainer(toy_config(**TRAIN), samples, tmp_path / 'init_model').model.state_dict()
    reference = single.model.state_dict()
    delta_single = torch.cat([(reference[k] - v).flatten() for k, v in initial.items()])
    delta_ddp = torch.cat([(ddp.model.state_dict()[k] - v).flatten() for k, v in initial.items()])
    assert delta_single.norm() > 1e-3  # training moved the weights...
    relative = float((delta_ddp - delta_single).norm() / delta_single.norm())
    assert relative < 0.01, relative  # ...the same way in both layouts


def test_checkpoint_round_trip_gives_identical_predictions(samples, tmp_path):
    trainer = Trainer(toy_config(**TRAIN), samples, tmp_path)
    trainer.run(3)
    path = save_checkpoint(tmp_path / 'model.safetensors', trainer.model, trainer.config, 3,
                           trainer.text_encoder.identity)
    loaded = load_checkpoint(path)
    assert loaded.step == 3 and loaded.config == trainer.config
    for key, value in trainer.model.state_dict().items():
        assert torch.equal(value, loaded.model.state_dict()[key])
    frame = toy_frame(7)
    a = LocPredictor(trainer.config, checkpoint=path).predict(frame)
    b = LocPredictor(trainer.config, checkpoint=path).predict(frame)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert a.labels.shape == (32, 32, 8)


def test_resume_continues_exactly(samples, tmp_path):
    straight = Trainer(toy_config(**TRAIN), samples, tmp_path / 'a')
    straight.run(4)
    first = Trainer(toy_config(**TRAIN), samples, tmp_path / 'b')
    first.run(2)
    first.save_last()
    second = Trainer(toy_config(**TRAIN), samples, tmp_path / 'b')
    assert second.resume() and second.step == 2
    second.run(4)
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(second.model.state_dict()[key], value, atol=1e-5, rtol=1e-4)


def test_corrupt_and_mismatched_checkpoints_are_clear_errors(samples, tmp_path):
    trainer = Trainer(toy_config(**TRAIN), samples, tmp_path)
    good = trainer.save_last()
    truncated = tmp_path / 'truncated.safetensors'
    truncated.write_bytes(good.read_bytes()[:200])
    with pytest.raises(CheckpointError, match='not a readable safetensors'):
        load_checkpoint(truncated)
    garbage = tmp_path / 'garbage.safetensors'
    garbage.write_bytes(b'\x00' * 64)
    with pytest.raises(CheckpointError):
        load_checkpoint(garbage)
    with pytest.raises(CheckpointError, match='does not exist'):
        load_checkpoint(tmp_path / 'missing.safetensors')
    from safetensors.torch import save_file
    foreign = tmp_path / 'foreign.safetensors'
    save_file({'w': torch.zeros(2)}, str(foreign))
    with pytest.raises(CheckpointError, match='not a LOC checkpoint'):
        load_checkpoint(foreign)
    with pytest.raises(CheckpointError, match='trained with text encoder'):
        load_checkpoint(good, expect_text_identity='clip:ViT-B-32:random')
    # tensors that do not fit the architecture the metadata declares
    other = toy_config(**TRAIN)
    other.model.overrides['bev_channels'] = 8
    from loc_core.models.checkpoint import read_metadata
    from loc_core.models.factory import create_model
    wrong = create_model(other.model, other.grid.to_grid(), 384)
    bad = tmp_path / 'bad.safetensors'
    save_file(dict(wrong.state_dict()), str(bad), metadata=read_metadata(good))
    with pytest.raises(CheckpointError, match='does not match the model'):
        load_checkpoint(bad)
    (tmp_path / 'last_state.pt').write_bytes(b'not a torch file')
    with pytest.raises(CheckpointError, match='unusable'):
        Trainer(toy_config(**TRAIN), samples, tmp_path).resume()


def test_sample_cache_round_trip_and_errors(tmp_path):
    frames = [toy_frame(0), toy_frame(1, with_labels=False)]
    paths = cache_frames(frames, tmp_path, (64, 32))
    assert len(paths) == 1  # the unlabelled frame is skipped (and logged)
    folder = SampleFolder(tmp_path)
    sample = folder[0]
    direct = TrainingSample.from_frame(frames[0], (64, 32))
    np.testing.assert_array_equal(sample.semantics, direct.semantics)
    np.testing.assert_array_equal(sample.novel, direct.novel)
    assert sample.novel.any() and sample.images.shape == (2, 32, 64, 3)
    assert (sample.class_targets()[sample.novel] == -1).all()
    paths[0].write_bytes(b'corrupt')
    with pytest.raises(SampleError):
        folder[0]
    with pytest.raises(SampleError):
        SampleFolder(tmp_path / 'empty')
