"""The sharded training cache (loc_core/train/shards.py): packing round-trips every sample; in a real
2-process gloo run through `loc-train --shards` each rank reads its own part only (its folder lacks
the other rank's shards), the parts are disjoint and together hold every sample; per-rank sampling
mixes real and synthetic samples where the unsharded trainer would; broken folders are clear errors."""
import json
import shutil
import socket
import tarfile
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
import torch.multiprocessing as mp
from toy_world import toy_config, toy_frame

from loc_core.train import cli
from loc_core.train.mixing import SourceMix
from loc_core.train.samples import SampleError, SampleFolder, TrainingSample, cache_frames
from loc_core.train.shards import INDEX, RankDraws, ShardedSamples, ShardError, info, main, pack_shards, read_index

SYNTHETIC, REAL, SHARDS = 8, 3, 4
PLANNED_STEPS = 12  # positions mapped per rank in the DDP run: two epochs of each rank's part


@pytest.fixture(scope='module')
def cache(tmp_path_factory):
    root = tmp_path_factory.mktemp('cache')
    cache_frames([toy_frame(s) for s in range(SYNTHETIC)], root / 'synthetic', (64, 32), prefix='synthetic')
    cache_frames([toy_frame(s) for s in range(SYNTHETIC, SYNTHETIC + REAL)], root / 'real', (64, 32),
                 prefix='nuscenes', source='real')
    return root


@pytest.fixture(scope='module')
def packed(cache, tmp_path_factory):
    out = tmp_path_factory.mktemp('packed') / 'shards'
    pack_shards([cache / 'synthetic', cache / 'real'], out, shard_count=SHARDS)
    return out


def by_key(cache) -> dict:
    folder = SampleFolder(cache / 'synthetic', cache / 'real')
    return {path.stem: path for path in folder.paths}


def assert_same(a: TrainingSample, b: TrainingSample) -> None:
    for f in fields(TrainingSample):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and np.array_equal(x, y), f.name
        else:
            assert x == y, f.name


def test_packing_round_trips_every_sample(cache, packed):
    originals = by_key(cache)
    index = read_index(packed)
    assert index['samples'] == SYNTHETIC + REAL and index['counts'] == {'synthetic': SYNTHETIC, 'real': REAL}
    sizes = [len(shard['samples']) for shard in index['shards']]
    assert len(sizes) == SHARDS and max(sizes) - min(sizes) <= 1  # dealt out in turn
    assert all(any(e['source'] == 'real' for e in shard['samples']) for shard in index['shards'][:REAL])
    for world in (1, 2, 4):
        keys = []
        for rank in range(world):
            with ShardedSamples(packed, rank, world) as part:
                assert part.sources() == [part[i].source for i in range(len(part))]
                for i, key in enumerate(part.keys()):
                    assert_same(part[i], TrainingSample.load(originals[key]))
                keys += part.keys()
        assert sorted(keys) == sorted(originals)
    # plain tar with WebDataset naming: member <key>.npz holds the cached file byte for byte
    with tarfile.open(packed / 'shard-000001.tar') as tar:
        for member in tar:
            key, extension = member.name.split('.', 1)
            assert extension == 'npz' and tar.extractfile(member).read() == originals[key].read_bytes()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _cli_rank(rank: int, world: int, port: int, argv: list, record: str) -> None:
    """One `loc-train --shards` process (spawned): records the keys it reads and the keys its
    trainer maps its first PLANNED_STEPS batches' positions to."""
    import os

    from loc_core.train.trainer import Trainer

    os.environ.update(RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR='127.0.0.1', MASTER_PORT=str(port))
    read, planned, files = [], [], []
    get, run = ShardedSamples.__getitem__, Trainer.run

    def recording_get(self, index):
        read.append(self.keys()[index])
        return get(self, index)

    def recording_run(self, *args, **kwargs):
        history = run(self, *args, **kwargs)
        planned.extend(self.dataset.keys()[self.dataset_index(p)] for step in range(PLANNED_STEPS)
                       for p in self.local_positions(step))
        files.extend(path.name for path in self.dataset.files)
        return history

    ShardedSamples.__getitem__, Trainer.run = recording_get, recording_run
    code = cli.main(argv)
    Path(record).write_text(json.dumps({'code': code, 'read': read, 'planned': planned, 'files': files}))


def _run_ranks(argvs: list, tmp_path) -> list:
    """Run one `loc-train` process per argv as ranks of a gloo group; their records."""
    port, ctx = _free_port(), mp.get_context('spawn')
    procs = [ctx.Process(target=_cli_rank, args=(rank, len(argvs), port, argv, str(tmp_path / f'rank{rank}.json')))
             for rank, argv in enumerate(argvs)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(180)
    for p in procs:
        if p.exitcode is None:
            p.terminate()
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in range(len(argvs))]


def _node_folders(packed, tmp_path, world: int = 2) -> list:
    """A copy of the shard folder per rank holding that rank's shards only (a node's local disk)."""
    folders = []
    for rank in range(world):
        folder = tmp_path / f'node{rank}'
        folder.mkdir()
        shutil.copy(packed / INDEX, folder)
        for number in range(rank, SHARDS, world):
            shutil.copy(packed / f'shard-{number:06d}.tar', folder)
        folders.append(folder)
    return folders


def test_two_gloo_ranks_read_disjoint_parts_that_cover_every_sample(packed, tmp_path):
    config = toy_config(lr=5e-3, batch_size=2, checkpoint_every=1000)
    config.save(tmp_path / 'config.json')
    argvs = [['--config', str(tmp_path / 'config.json'), '--shards', str(folder), '--out', str(tmp_path / 'run'),
              '--steps', '2', '--threads', '1'] for folder in _node_folders(packed, tmp_path)]
    records = _run_ranks(argvs, tmp_path)
    assert [r['code'] for r in records] == [0, 0]
    assert records[0]['files'] == ['shard-000000.tar', 'shard-000002.tar']
    assert records[1]['files'] == ['shard-000001.tar', 'shard-000003.tar']
    parts = [ShardedSamples(packed, rank, 2).keys() for rank in range(2)]
    for record, part in zip(records, parts):
        assert record['read'] == record['planned'][:2]  # 2 steps, one sample per rank per step
        planned = record['planned']
        assert sorted(planned[:len(part)]) == sorted(part)  # an epoch of the part: each sample once
        assert set(planned) == set(part)
    first, second = (set(r['planned']) for r in records)
    assert not first & second  # ranks never read the same sample...
    everything = {entry['key'] for shard in read_index(packed)['shards'] for entry in shard['samples']}
    assert first | second == everything and len(everything) == SYNTHETIC + REAL  # ...and together read all
    assert (tmp_path / 'run' / 'last.safetensors').is_file()  # rank 0 writes the checkpoint


def test_a_rank_without_its_shards_stops_every_rank(packed, tmp_path):
    folders = _node_folders(packed, tmp_path)
    for shard in folders[1].glob('*.tar'):
        shard.unlink()  # node 1 lacks its shards: rank 0 must not wait for it in DDP
    records = _run_ranks([['--shards', str(folder), '--out', str(tmp_path / 'run'), '--threads', '1']
                         for folder in folders], tmp_path)
    assert [r['code'] for r in records] == [2, 2] and not records[0]['read']


def test_rank_draws_mix_where_the_unsharded_trainer_would(packed):
    batch, world, fraction = 4, 2, 1 / 3
    reference = SourceMix(real=[0], synthetic=[1], fraction=fraction)
    parts = [ShardedSamples(packed, rank, world) for rank in range(world)]
    draws = [RankDraws(part.sources(), batch, rank, world, fraction, seed=3) for rank, part in enumerate(parts)]
    picks = [[], []]
    for step in range(30):
        for rank in range(world):
            for position in range(step * batch + rank * 2, step * batch + rank * 2 + 2):
                index = draws[rank].index(position)
                assert (parts[rank].sources()[index] == 'real') == reference.is_real(position)
                picks[rank].append(index)
    for rank, part in enumerate(parts):
        sources = part.sources()
        real = [i for i in picks[rank] if sources[i] == 'real']
        synthetic = [i for i in picks[rank] if sources[i] != 'real']
        count_real = sources.count('real')
        assert sorted(real[:count_real]) == [i for i, s in enumerate(sources) if s == 'real']
        assert sorted(synthetic[:len(sources) - count_real]) == [i for i, s in enumerate(sources) if s != 'real']
        # a fresh sampler (a resumed run) draws the same as the one that got there step by step
        late = RankDraws(sources, batch, rank, world, fraction, seed=3)
        assert [late.index(p) for p in range(29 * batch + rank * 2, 29 * batch + rank * 2 + 2)] == picks[rank][-2:]
    with pytest.raises(ValueError, match='another rank'):
        draws[0].index(2)
    # a part without real samples cannot honour real_fraction: a clear error, not a silent change
    with pytest.raises(ShardError, match='no real samples'):
        RankDraws(['synthetic'] * 3, batch, 1, world, fraction)
    assert RankDraws(['synthetic'] * 3, batch, 1, world, fraction, both_sources=False).index(2) in range(3)


def test_broken_shard_folders_are_clear_errors(packed, tmp_path):
    with pytest.raises(ShardError, match='no index.json'):
        ShardedSamples(tmp_path)
    with pytest.raises(ShardError, match='4 shards for 5 processes'):
        ShardedSamples(packed, 0, 5)
    copy = tmp_path / 'copy'
    shutil.copytree(packed, copy)
    (copy / 'shard-000003.tar').unlink()
    ShardedSamples(copy, 0, 2)  # rank 0 does not need shard 3
    with pytest.raises(ShardError, match='needs .*shard-000003.tar, which is missing'):
        ShardedSamples(copy, 1, 2)
    shard = copy / 'shard-000002.tar'
    data = bytearray(shard.read_bytes())
    shard.write_bytes(data[:len(data) // 2])
    with pytest.raises(ShardError, match='truncated'):
        ShardedSamples(copy, 0, 2)
    entry = read_index(copy)['shards'][2]['samples'][0]
    data[entry['offset'] + entry['size'] // 2] ^= 0xFF  # same size, one byte changed
    shard.write_bytes(bytes(data))
    part = ShardedSamples(copy, 0, 2)
    with pytest.raises(ShardError, match='does not match the index'):
        part[part.keys().index(entry['key'])]
    with pytest.raises(ShardError, match='does not match the index'):
        info(copy, verify=True)
    assert info(packed, world=2, verify=True)['verified']
    with pytest.raises(SampleError, match='cannot read training sample'):  # a torn .npz
        TrainingSample.from_bytes(bytes(data[entry['offset']:entry['offset'] + 300]), 'torn')
    index = json.loads((copy / INDEX).read_text())
    (copy / INDEX).write_text(json.dumps({**index, 'version': 99}))
    with pytest.raises(ShardError, match='version 99'):
        ShardedSamples(copy)
    (copy / INDEX).write_text(json.dumps({**index, 'shards': [{'file': '../x.tar'}]}))
    with pytest.raises(ShardError, match='malformed'):
        ShardedSamples(copy)
    (copy / INDEX).write_text('{"format": "loc-train-')
    with pytest.raises(ShardError, match='unreadable'):
        ShardedSamples(copy)
    with pytest.raises(ShardError, match='not empty'):
        pack_shards([packed.parent], copy, samples_per_shard=2)


def test_command_lines(cache, tmp_path, capsys):
    out = tmp_path / 'shards'
    assert main(['pack', '--cache', str(cache / 'synthetic'), '--real-cache', str(cache / 'real'), '--out', str(out),
                 '--samples-per-shard', '3']) == 0
    assert json.loads(capsys.readouterr().out)['shards'] == 4  # 11 samples, at most 3 a shard
    assert main(['info', str(out), '--world', '2']) == 0
    ranks = json.loads(capsys.readouterr().out)['ranks']
    assert [r['files'] for r in ranks] == [['shard-000000.tar', 'shard-000002.tar'],
                                           ['shard-000001.tar', 'shard-000003.tar']]
    assert sum(r['samples'] for r in ranks) == SYNTHETIC + REAL
    assert main(['pack', '--cache', str(cache / 'synthetic'), '--out', str(out), '--shard-count', '2']) == 2
    assert 'not empty' in capsys.readouterr().err
    assert main(['pack', '--cache', str(cache / 'real'), '--out', str(tmp_path / 'o'), '--shard-count', '9']) == 2
    assert main(['pack', '--cache', str(cache / 'real'), '--out', str(tmp_path / 'o'), '--samples-per-shard', '0']) == 2
    assert main(['info', str(tmp_path)]) == 2
    for argv in (['--out', 'o'], ['--out', 'o', '--cache', 'c', '--shards', 's'],
                 ['--out', 'o', '--shards', 's', '--synthetic-seeds', '0-1']):
        with pytest.raises(SystemExit):
            cli.parse_args(argv)
    assert cli.parse_args(['--out', 'o', '--shards', 's']).shards == 's'
