"""All-or-nothing output folders: a bag is written into a hidden temporary folder beside its
destination and renamed into place only once it is complete, so an interrupted or failed
conversion never leaves a partial bag (and never clobbers an existing one without `force`)."""
from __future__ import annotations

import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path


class OutputExistsError(FileExistsError):
    """The destination exists and overwriting was not asked for."""


def check_destination(out, force: bool) -> Path:
    """The destination as a Path; OutputExistsError when it exists and `force` is off."""
    out = Path(out)
    if out.exists() and not force:
        raise OutputExistsError(f'{out} exists already; pass --force to overwrite it')
    return out


@contextmanager
def atomic_folder(out, force: bool = False):
    """Yield a not-yet-existing path inside a temporary folder beside `out`; on success it is
    renamed to `out` (replacing an old `out` only with `force`), on any error it is removed."""
    out = check_destination(out, force).absolute()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f'.{out.name}.partial-', dir=out.parent))
    try:
        work = staging / out.name
        yield work
        if not work.exists():
            raise RuntimeError(f'nothing was written for {out}')
        check_destination(out, force)  # someone may have created it meanwhile
        if out.exists():
            os.replace(out, staging / 'replaced')  # moved aside, removed with the staging folder
        os.replace(work, out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
