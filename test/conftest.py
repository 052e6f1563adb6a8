"""Shared fixtures. Sample data: skip when absent, fail when LOC_REQUIRE_SAMPLE_DATA=1 (CI)."""
import os

import pytest

from loc_core.data.sample_data import (LIDARSEG_FRAMES, NUSCENES_MINI_SCENE, OCC3D_SAMPLE,
                                       SEMANTICKITTI_MINI, sample_data_root)


def _require(relative: str):
    root = sample_data_root()
    path = root / relative if root else None
    if path is None or not path.exists():
        message = f'sample data {relative!r} not found (set LOC_SAMPLE_DATA or place ../shared/data)'
        if os.environ.get('LOC_REQUIRE_SAMPLE_DATA') == '1':
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope='session')
def nuscenes_dataroot():
    return _require(NUSCENES_MINI_SCENE)


@pytest.fixture(scope='session')
def lidarseg_folder():
    return _require(LIDARSEG_FRAMES)


@pytest.fixture(scope='session')
def occ3d_sample_path():
    return _require(OCC3D_SAMPLE)


@pytest.fixture(scope='session')
def semantickitti_root():
    return _require(SEMANTICKITTI_MINI)


@pytest.fixture(scope='session')
def nuscenes_source(nuscenes_dataroot):
    from loc_core.data.nuscenes_source import NuScenesSource

    return NuScenesSource(nuscenes_dataroot, version='v1.0-mini')
