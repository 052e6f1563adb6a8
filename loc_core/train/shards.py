"""A sharded training cache for many processes and machines: each data-parallel rank reads its own
part, one sample at a time, and a node needs only the shards of its own ranks.

A shard folder holds

* `shard-000000.tar`, `shard-000001.tar`, ...: uncompressed tar files whose member `<key>.npz` is one
  cached sample, the bytes of its `.npz` file unchanged (`TrainingSample.to_bytes`). Keys hold no
  dot and each sample is one member, the WebDataset naming, so `tar -x`, WebDataset or any tar
  reader can read a shard as well;
* `index.json`, written last: format and version, sample counts per source and, per shard, its file
  name and size and, per sample, its key, source ('synthetic'/'real'), the byte offset and size of
  its data inside the tar, and a CRC-32 of the data.

Packing deals the samples out to the shards in turn, real ones first, so every shard holds about
the same number of samples and of each source. Rank r of W processes owns shards r, r+W, r+2W, ...
(`ShardedSamples`): it opens only those, reads a sample by seeking to its member (a few files kept
open) and never loads a whole shard. With a sharded dataset the trainer draws each rank's slice of
the global batch from that rank's own part (`RankDraws`): ranks never read the same sample and,
over an epoch of each part, together read all of them.

    loc-train-shards pack --cache out/cache_synth --real-cache out/cache_real --out out/shards \\
        --samples-per-shard 200
    loc-train-shards info out/shards --world 8     # which shard files each of 8 ranks needs
    torchrun --nproc_per_node 2 -m loc_core.train.cli --config cfg.yaml --shards out/shards --out out/run
"""
from __future__ import annotations

import argparse
import io
import json
import logging
import math
import os
import sys
import tarfile
import zlib
from collections import OrderedDict
from pathlib import Path

import numpy as np

from loc_core.data.occ3d_io import atomic_write_bytes
from loc_core.train.mixing import nth_in_epochs
from loc_core.train.samples import SOURCES, SampleError, SampleFolder, TrainingSample

log = logging.getLogger(__name__)
FORMAT = 'loc-train-shards'
VERSION = 1
INDEX = 'index.json'


class ShardError(SampleError):
    """A shard folder, shard or index that cannot be used."""


def shard_name(number: int) -> str:
    return f'shard-{number:06d}.tar'


def sample_key(path) -> str:
    """The shard key of a cached sample file: its name without `.npz`, dots made underscores (a
    WebDataset key ends at the first dot of the member name)."""
    return Path(path).stem.replace('.', '_')


# --- writing ---------------------------------------------------------------------------------------

def pack_shards(folders, out, samples_per_shard: int | None = None, shard_count: int | None = None) -> dict:
    """Pack the cached samples (*.npz) of `folders` into tar shards under `out` (a new or empty
    folder) with at most `samples_per_shard` samples each, or into `shard_count` shards. Each shard
    is written to a temporary file and renamed; the index is written last, so a folder with an
    index is complete. Returns the index."""
    if (samples_per_shard is None) == (shard_count is None):
        raise ValueError('give samples_per_shard or shard_count, one of them')
    if (samples_per_shard if shard_count is None else shard_count) < 1:
        raise ValueError('samples_per_shard and shard_count must be at least 1')
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise ShardError(f'{out} is not empty: pack into a new folder (remove an old or unfinished pack first)')
    folder = SampleFolder(*folders)
    sources, keys = folder.sources(), [sample_key(p) for p in folder.paths]
    seen: dict = {}
    for key, path in zip(keys, folder.paths):
        if key in seen:
            raise ShardError(f'samples {seen[key]} and {path} would share the shard key {key!r}: rename one')
        seen[key] = path
    total = len(keys)
    count = shard_count if shard_count is not None else math.ceil(total / samples_per_shard)
    if count > total:
        raise ShardError(f'{count} shards for {total} samples: every shard needs at least one sample')
    order = sorted(range(total), key=lambda i: (sources[i] != 'real', keys[i]))  # real ones dealt first
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for number in range(count):
        members = [(keys[i], folder.paths[i], sources[i]) for i in order[number::count]]
        shards.append(_write_shard(out / shard_name(number), members))
        log.info('wrote %s: %d samples', shards[-1]['file'], len(members))
    counts = {source: sources.count(source) for source in SOURCES}
    index = {'format': FORMAT, 'version': VERSION, 'samples': total, 'counts': counts, 'shards': shards}
    atomic_write_bytes(out / INDEX, json.dumps(index, indent=1).encode())
    log.info('packed %d samples (%s) into %d shards in %s', total, counts, count, out)
    return index


def _write_shard(target: Path, members) -> dict:
    """One tar shard from (key, sample path, source) members; the index entry, with the data offsets
    read back from the written tar."""
    partial = target.with_name(f'.{target.name}.partial')
    entries = []
    try:
        with open(partial, 'wb') as handle:
            with tarfile.open(fileobj=handle, mode='w') as tar:
                for key, path, source in members:
                    payload = Path(path).read_bytes()
                    info = tarfile.TarInfo(f'{key}.npz')
                    info.size, info.mode, info.mtime = len(payload), 0o644, int(Path(path).stat().st_mtime)
                    tar.addfile(info, io.BytesIO(payload))
                    entries.append({'key': key, 'source': source, 'size': len(payload),
                                    'crc32': zlib.crc32(payload)})
            handle.flush()
            os.fsync(handle.fileno())
        with tarfile.open(partial, 'r:') as tar:  # headers only: tarfile seeks over the data
            offsets = {member.name: member.offset_data for member in tar}
        for entry in entries:
            entry['offset'] = offsets[f'{entry["key"]}.npz']
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return {'file': target.name, 'bytes': target.stat().st_size, 'samples': entries}


# --- reading ---------------------------------------------------------------------------------------

def read_index(root) -> dict:
    """The checked index of a shard folder; ShardError when it is missing, unreadable or of another
    format or version."""
    path = Path(root) / INDEX
    if not path.is_file():
        raise ShardError(f'{root}: no {INDEX}: not a shard folder, or packing did not finish '
                         f'(pack one with `loc-train-shards pack`)')
    try:
        index = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ShardError(f'{path}: unreadable shard index: {exc}') from exc
    if not isinstance(index, dict) or index.get('format') != FORMAT:
        raise ShardError(f'{path} is not a {FORMAT} index')
    if index.get('version') != VERSION:
        raise ShardError(f'{path}: index version {index.get("version")}, this LOC reads version {VERSION}: '
                         f'pack the cache again')
    try:
        _check_index(index)
    except (KeyError, TypeError, ValueError) as exc:
        raise ShardError(f'{path}: malformed shard index ({exc!r})') from exc
    if not index['shards']:
        raise ShardError(f'{path}: the index lists no shards')
    return index


def _check_index(index: dict) -> None:
    """Raises KeyError/TypeError/ValueError where a field is missing or of the wrong kind."""
    numbers = lambda record, *fields: all(isinstance(record[f], int) and record[f] >= 0 for f in fields)  # noqa: E731
    if not (numbers(index, 'samples') and isinstance(index['counts'], dict) and isinstance(index['shards'], list)):
        raise TypeError('samples, counts or shards')
    for shard in index['shards']:
        name = shard['file']
        if not (isinstance(name, str) and name and Path(name).name == name and numbers(shard, 'bytes')):
            raise ValueError(f'shard file {name!r}')
        for entry in shard['samples']:
            if not (isinstance(entry['key'], str) and numbers(entry, 'offset', 'size', 'crc32')
                    and entry['source'] in SOURCES):
                raise ValueError(f'sample entry {entry!r}')


def rank_shards(index: dict, rank: int, world: int) -> list[dict]:
    """The shards rank `rank` of `world` owns: rank, rank + world, ..."""
    return index['shards'][rank::world]


class ShardedSamples:
    """The part of a shard folder that rank `rank` of `world` reads: shards rank, rank+world, ...
    Only those shard files are opened (the others need not be on this machine); a sample is read
    by seeking to its member, with at most `open_files` files kept open. Indexing and
    `sources()` cover this part only; `total` and `total_counts` describe the whole folder."""

    def __init__(self, root, rank: int = 0, world: int = 1, open_files: int = 4):
        if not 0 <= rank < world:
            raise ValueError(f'rank {rank} is not one of {world} processes')
        self.root, self.rank, self.world = Path(root), int(rank), int(world)
        index = read_index(self.root)
        shards = index['shards']
        if len(shards) < world:
            raise ShardError(f'{self.root} holds {len(shards)} shards for {world} processes: every process needs '
                             f'at least one (pack with `--shard-count {world}` or a multiple of it)')
        if len(shards) % world:
            log.warning('%d shards for %d processes: ranks own unequal parts (a shard count that is a multiple '
                        'of the process count balances them)', len(shards), world)
        self.total, self.total_counts = int(index['samples']), dict(index['counts'])
        self.files, self.entries = [], []  # entries: (file number, key, offset, size, crc32, source)
        for number, shard in enumerate(rank_shards(index, rank, world)):
            path = self.root / shard['file']
            if not path.is_file():
                raise ShardError(f'rank {rank} of {world} needs {path}, which is missing: a node needs the shards '
                                 f'of its own ranks (`loc-train-shards info {self.root} --world {world}` lists them)')
            size = path.stat().st_size
            if size != shard['bytes']:
                raise ShardError(f'{path} is {size} bytes, the index says {shard["bytes"]}: a truncated or '
                                 f'foreign shard (copy it again, or pack again)')
            self.files.append(path)
            self.entries.extend((number, e['key'], e['offset'], e['size'], e['crc32'], e['source'])
                                for e in shard['samples'])
        if not self.entries:
            raise ShardError(f'rank {rank} of {world}: its shards in {self.root} hold no samples')
        self.open_files = max(1, int(open_files))
        self._handles: OrderedDict = OrderedDict()
        log.info('rank %d of %d: %d of %d samples from %d shards of %s', rank, world, len(self.entries),
                 self.total, len(self.files), self.root)

    def __len__(self) -> int:
        return len(self.entries)

    def __getitem__(self, index: int) -> TrainingSample:
        number, key, offset, size, crc, _ = self.entries[index]
        name = f'{self.files[number]}:{key}.npz'
        handle = self._handle(number)
        handle.seek(offset)
        payload = handle.read(size)
        if len(payload) != size or zlib.crc32(payload) != crc:
            raise ShardError(f'{name}: data does not match the index (a corrupt or changed shard: copy it '
                             f'again, or pack again)')
        return TrainingSample.from_bytes(payload, name)

    def _handle(self, number: int):
        handle = self._handles.pop(number, None)
        if handle is None:
            try:
                handle = open(self.files[number], 'rb', buffering=0)  # noqa: SIM115 (kept open, LRU)
            except OSError as exc:
                raise ShardError(f'cannot open shard {self.files[number]}: {exc}') from exc
            while len(self._handles) >= self.open_files:
                self._handles.popitem(last=False)[1].close()
        self._handles[number] = handle  # most recently used last
        return handle

    def keys(self) -> list[str]:
        return [entry[1] for entry in self.entries]

    def sources(self) -> list[str]:
        """Each sample's source, from the index (no shard is read)."""
        return [entry[5] for entry in self.entries]

    def close(self) -> None:
        while self._handles:
            self._handles.popitem()[1].close()

    def __getstate__(self):  # picklable for spawned workers: open files stay behind
        state = dict(self.__dict__)
        state['_handles'] = OrderedDict()
        return state

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --- sampling --------------------------------------------------------------------------------------

class RankDraws:
    """Global batch positions -> indices into one rank's part of a sharded dataset.

    Rank r takes positions r*s .. r*s+s-1 of every global batch of B = s*W positions (as
    `Trainer.local_positions` gives them) and its n-th position draws the n-th item of a fresh
    permutation of its part every epoch of that part, seeded with (seed, rank). With `fraction` > 0
    and both sources in the whole folder, a position takes a real sample exactly where `SourceMix`
    would put one (so the global batch mixes as without shards) and each source of the part runs
    through its own epochs."""

    def __init__(self, sources: list[str], batch_size: int, rank: int, world: int, fraction: float = 0.0,
                 seed: int = 0, both_sources: bool = True):
        if batch_size % world:
            raise ValueError(f'batch_size {batch_size} is not divisible by {world} processes')
        self.size, self.batch, self.share = len(sources), int(batch_size), batch_size // world
        self.rank, self.seed, self.fraction = int(rank), int(seed), 0.0
        self.real = [i for i, s in enumerate(sources) if s == 'real']
        self.synthetic = [i for i, s in enumerate(sources) if s != 'real']
        if fraction > 0.0 and both_sources:
            if fraction >= 1.0:
                raise ValueError('train.real_fraction 1 leaves no room for synthetic samples; drop them instead')
            if not self.real or not self.synthetic:
                missing = 'real' if not self.real else 'synthetic'
                raise ShardError(f'rank {rank} of {world}: its shards hold no {missing} samples, but '
                                 f'train.real_fraction mixes both on every rank: pack into fewer shards')
            self.fraction = float(fraction)
        self._memo = (0, 0)  # (step, real draws of this rank before that step)

    @classmethod
    def for_dataset(cls, dataset: ShardedSamples, train_cfg, rank: int, world: int) -> 'RankDraws':
        if (dataset.rank, dataset.world) != (rank, world):
            raise ValueError(f'the sharded dataset is the part of rank {dataset.rank} of {dataset.world}, '
                             f'the trainer is rank {rank} of {world}')
        both = all(dataset.total_counts.get(source, 0) > 0 for source in SOURCES)
        return cls(dataset.sources(), train_cfg.batch_size, rank, world, train_cfg.real_fraction,
                   train_cfg.seed, both)

    def local_draw(self, position: int) -> tuple[int, int]:
        """(step, n): the global batch of `position` and its number among this rank's draws."""
        step, slot = divmod(int(position), self.batch)
        offset = slot - self.rank * self.share
        if not 0 <= offset < self.share:
            raise ValueError(f'position {position} belongs to another rank\'s slice of the batch')
        return step, step * self.share + offset

    def index(self, position: int) -> int:
        step, n = self.local_draw(position)
        if not self.fraction:
            return nth_in_epochs([self.seed, self.rank, 0], n, self.size)
        start = step * self.batch + self.rank * self.share
        real_before = self._real_before_step(step) + self._reals(start, position)
        if self._reals(position, position + 1):
            return self.real[nth_in_epochs([self.seed, self.rank, 1], real_before, len(self.real))]
        return self.synthetic[nth_in_epochs([self.seed, self.rank, 2], n - real_before, len(self.synthetic))]

    def _reals(self, start: int, stop: int) -> int:
        """Real positions in start .. stop-1 (SourceMix.is_real summed: the floors telescope)."""
        return math.floor(stop * self.fraction) - math.floor(start * self.fraction)

    def _real_before_step(self, step: int) -> int:
        """Real draws of this rank in the global batches before `step` (remembered for the next call)."""
        known, count = self._memo if self._memo[0] <= step else (0, 0)
        if step > known:
            starts = np.arange(known, step, dtype=np.int64) * self.batch + self.rank * self.share
            count += int((np.floor((starts + self.share) * self.fraction) - np.floor(starts * self.fraction)).sum())
        self._memo = (step, count)
        return count


def rank_draws(dataset, train_cfg, rank: int, world: int) -> RankDraws | None:
    """RankDraws for a sharded dataset, None for any other (the trainer's own sampling)."""
    return RankDraws.for_dataset(dataset, train_cfg, rank, world) if isinstance(dataset, ShardedSamples) else None


# --- command line ----------------------------------------------------------------------------------

def info(root, world: int | None = None, verify: bool = False) -> dict:
    """Summary of a shard folder; with `world`, the shard files and sample counts of each rank; with
    `verify`, every member's data checked against the index (ShardError at the first mismatch)."""
    index = read_index(root)
    shards = index['shards']
    summary = {'root': str(root), 'version': index['version'], 'samples': index['samples'],
               'counts': index['counts'], 'shards': len(shards), 'bytes': sum(s['bytes'] for s in shards)}
    if world:
        summary['ranks'] = [_part_summary(rank_shards(index, rank, world), rank) for rank in range(world)]
    if verify:
        for shard in shards:
            path = Path(root) / shard['file']
            try:
                with open(path, 'rb') as handle:
                    for entry in shard['samples']:
                        handle.seek(entry['offset'])
                        if zlib.crc32(handle.read(entry['size'])) != entry['crc32']:
                            raise ShardError(f'{path}:{entry["key"]}.npz: data does not match the index')
            except OSError as exc:
                raise ShardError(f'cannot read shard {path}: {exc}') from exc
        summary['verified'] = True
    return summary


def _part_summary(shards: list[dict], rank: int) -> dict:
    sources = [entry['source'] for shard in shards for entry in shard['samples']]
    return {'rank': rank, 'files': [s['file'] for s in shards], 'samples': len(sources),
            'counts': {source: sources.count(source) for source in SOURCES},
            'bytes': sum(s['bytes'] for s in shards)}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='loc-train-shards', description=__doc__.split('\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    pack = commands.add_parser('pack', help='pack cached samples (*.npz) into tar shards with an index')
    pack.add_argument('--cache', required=True, help='folder of cached training samples (*.npz)')
    pack.add_argument('--real-cache', help='a second folder of samples (e.g. the real ones)')
    pack.add_argument('--out', required=True, help='new or empty folder for the shards and index.json')
    size = pack.add_mutually_exclusive_group(required=True)
    size.add_argument('--samples-per-shard', type=int, help='at most this many samples per shard')
    size.add_argument('--shard-count', type=int, help='this many shards (a multiple of the process count)')
    show = commands.add_parser('info', help='summarise a shard folder')
    show.add_argument('root')
    show.add_argument('--world', type=int, help='list the shard files each of this many ranks reads')
    show.add_argument('--verify', action='store_true', help='check every sample\'s data against the index')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format='%(asctime)s %(name)s %(levelname)s %(message)s')
    try:
        if args.command == 'pack':
            folders = [args.cache] + ([args.real_cache] if args.real_cache and args.real_cache != args.cache else [])
            pack_shards(folders, args.out, args.samples_per_shard, args.shard_count)
            print(json.dumps(info(args.out), indent=1))
            return 0
        print(json.dumps(info(args.root, args.world, args.verify), indent=1))
        return 0
    except (SampleError, ValueError) as exc:
        print(f'loc-train-shards: {exc}', file=sys.stderr)
        return 2


if __name__ == '__main__':
    sys.exit(main())
