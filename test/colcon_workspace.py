"""A colcon workspace holding this repository as the package `loc_ros`, built the way a user builds
it, and the environment a user has after `source install/setup.bash` (test_package_layout,
test_ros_cli)."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ('loc_core', 'loc_ros', 'rosbags_tools')
PACKAGE_FILES = ('package.xml', 'setup.py', 'setup.cfg', 'resource', 'launch', 'config') + PACKAGES
VENV_BIN = Path(sys.executable).parent


def colcon_build(workspace: Path) -> Path:
    """Copy the package into workspace/src/loc_ros, `colcon build` it; returns workspace/install.
    Raises CalledProcessError (with colcon's output) when the build fails."""
    colcon = shutil.which('colcon', path=str(VENV_BIN))
    if colcon is None:
        raise FileNotFoundError('colcon is missing from the environment (requirements/test.txt)')
    src = workspace / 'src' / 'loc_ros'
    src.mkdir(parents=True)
    for name in PACKAGE_FILES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns('__pycache__'))
        elif source.exists():
            shutil.copy(source, src / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('COLCON', 'AMENT'))}
    subprocess.run([colcon, 'build', '--base-paths', 'src'], cwd=workspace, check=True, env=env,
                   capture_output=True, timeout=300)
    return workspace / 'install'


# What README tells a user of a PyPI (virtual environment) ROS 2 to type after building: colcon's
# setup.bash replaces AMENT_PREFIX_PATH, which must keep the environment's own prefix (where the
# ros2 CLI and the message packages are registered).
SOURCE_COMMAND = 'source install/setup.bash && export AMENT_PREFIX_PATH="$AMENT_PREFIX_PATH:$VIRTUAL_ENV"'


def sourced_environment(workspace: Path, base: dict) -> dict:
    """`base` after running SOURCE_COMMAND in `workspace` with bash (VIRTUAL_ENV = this Python's
    environment, its bin first on PATH, PYTHONPATH cleared as in a fresh shell)."""
    env = {k: v for k, v in base.items() if not k.startswith(('COLCON', 'AMENT')) and k != 'PYTHONPATH'}
    env['VIRTUAL_ENV'] = sys.prefix
    env['PATH'] = f'{VENV_BIN}{os.pathsep}{env.get("PATH", "")}'
    out = subprocess.run(['bash', '-c', f'{SOURCE_COMMAND} && env -0'], cwd=workspace, env=env,
                         check=True, capture_output=True, timeout=60).stdout
    return dict(item.split('=', 1) for item in out.decode().split('\0') if '=' in item)
