"""The repository root is one ament_python package that colcon builds and installs like a ROS 2 package."""
import subprocess
import sys
import xml.etree.ElementTree as ET

from colcon_workspace import PACKAGES, ROOT, colcon_build


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
    colcon_build(tmp_path)
    install = tmp_path / 'install' / 'loc_ros'
    assert (install / 'share' / 'ament_index' / 'resource_index' / 'packages' / 'loc_ros').is_file()
    assert (install / 'share' / 'loc_ros' / 'package.xml').is_file()
    for script in ('loc_node', 'loc-bag', 'loc-sim', 'loc-gt', 'loc-train', 'loc-eval'):
        assert (install / 'lib' / 'loc_ros' / script).is_file(), script  # where `ros2 run` looks
    site = next((install / 'lib').glob('python3*/site-packages'))
    for package in PACKAGES:
        assert (site / package / '__init__.py').is_file()


def test_readme_names_every_launch_argument_and_parameter():
    """Every argument the shipped launch file declares and every node parameter appears in README
    (as `name`), so a user reading it sees all the knobs."""
    import ast

    from loc_ros.parameters import SPECS

    tree = ast.parse((ROOT / 'launch' / 'loc.launch.py').read_text())
    arguments = [call.args[0].value for call in ast.walk(tree) if isinstance(call, ast.Call)
                 and getattr(call.func, 'id', '') == 'DeclareLaunchArgument']
    assert len(arguments) >= 9
    readme = (ROOT / 'README.md').read_text()
    missing = [name for name in arguments + [spec.name for spec in SPECS] if f'`{name}`' not in readme]
    assert not missing, f'README.md does not mention {missing}'
