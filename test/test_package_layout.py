"""The repository root is one ament_python package that colcon builds and installs like a ROS 2 package."""
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ('loc_core', 'loc_ros', 'rosbags_tools')


def test_package_xml_is_format_3_ament_python():
    tree = ET.parse(ROOT / 'package.xml').getroot()
    assert tree.get('format') == '3'
    assert tree.findtext('name') == 'loc_ros'
    assert tree.find('export/build_type').text == 'ament_python'
    depends = {e.text for e in tree.iter() if e.tag.endswith('depend')}
    for ros_dep in ('rclpy', 'sensor_msgs', 'visualization_msgs', 'nav_msgs', 'diagnostic_msgs', 'std_msgs'):
        assert ros_dep in depends


def test_loc_core_imports_no_ros():
    """loc_core stays pure: importing all of it pulls in neither rclpy nor message packages."""
    code = ('import pkgutil, sys, importlib, loc_core\n'
            'for m in pkgutil.walk_packages(loc_core.__path__, "loc_core."): importlib.import_module(m.name)\n'
            'bad = [m for m in sys.modules if m.split(".")[0] in ("rclpy", "rosbags", "launch") or m.endswith("_msgs")]\n'
            'assert not bad, bad\n')
    subprocess.run([sys.executable, '-c', code], check=True, cwd=ROOT)


def test_colcon_builds_the_package(tmp_path):
    colcon = shutil.which('colcon', path=str(Path(sys.executable).parent))
    if colcon is None:
        pytest.fail('colcon is missing from the environment (requirements/test.txt)')
    src = tmp_path / 'src' / 'loc_ros'
    src.mkdir(parents=True)
    for name in ('package.xml', 'setup.py', 'setup.cfg', 'resource', 'launch', 'config') + PACKAGES:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, src / name, ignore=shutil.ignore_patterns('__pycache__'))
        elif source.exists():
            shutil.copy(source, src / name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(('COLCON', 'AMENT'))}
    subprocess.run([colcon, 'build', '--base-paths', 'src'], cwd=tmp_path, check=True, env=env,
                   capture_output=True, timeout=300)
    install = tmp_path / 'install' / 'loc_ros'
    assert (install / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'loc_ros').is_file()
    assert (install / 'share' / 'loc_ros' / 'package.xml').is_file()
    for script in ('loc_node', 'loc-bag', 'loc-sim', 'loc-gt', 'loc-train', 'loc-eval'):
        assert (install / 'lib' / 'loc_ros' / script).is_file(), script  # where `ros2 run` looks
    site = next((install / 'lib').glob('python3*/site-packages'))
    for package in PACKAGES:
        assert (site / package / '__init__.py').is_file()
