"""`loc_node` as users start it: one clear line and a non-zero exit for bad startup input, the
params file and launch/RViz configs that ship with the package, clean SIGINT/SIGTERM shutdown."""
import ast
import importlib.util
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from ros_test_utils import calibration_for_frame, isolate_ros, synthetic_frame

from loc_core.data.calibration import save_calibration
from loc_ros.parameters import MODEL_DEFAULTED, SPEC_BY_NAME

pytestmark = pytest.mark.ros
ROOT = Path(__file__).resolve().parents[1]
HAS_PREDICTOR = importlib.util.find_spec('loc_core.inference.predictor') is not None


def _env():
    isolate_ros('test_node_main')
    return {**os.environ, 'PYTHONPATH': str(ROOT)}


def _run_node(*ros_args, timeout=120):
    cmd = [sys.executable, '-m', 'loc_ros.node_main', '--ros-args', *ros_args]
    return subprocess.run(cmd, cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope='module')
def calibration_file(tmp_path_factory):
    return save_calibration(tmp_path_factory.mktemp('main') / 'calibration.yaml',
                            calibration_for_frame(synthetic_frame()))


def _one_line_failure(proc, *words):
    assert proc.returncode == 2, proc.stderr
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith('loc_node: '), proc.stderr
    for word in words:
        assert word in lines[0], lines[0]


def test_missing_and_corrupt_calibration(tmp_path):
    _one_line_failure(_run_node('-p', f'calibration_file:={tmp_path}/nope.yaml'), 'not found')
    bad = tmp_path / 'bad.yaml'
    bad.write_text('lidar: [1, 2\n')
    _one_line_failure(_run_node('-p', f'calibration_file:={bad}'), 'not valid YAML')
    _one_line_failure(_run_node(), 'calibration_file', 'camera_topics', '/tf_static')


def test_invalid_prompts_and_unknown_camera(calibration_file):
    _one_line_failure(_run_node('-p', f'calibration_file:={calibration_file}', '-p', "prompts:=['car','Car']"),
                      'repeats')
    _one_line_failure(_run_node('-p', f'calibration_file:={calibration_file}', '-p', "camera_names:=['CAM_X']"),
                      'CAM_X')


def test_missing_checkpoint(calibration_file, tmp_path):
    _one_line_failure(_run_node('-p', f'calibration_file:={calibration_file}',
                                '-p', f'checkpoint:={tmp_path}/missing.safetensors'), 'checkpoint not found')


@pytest.mark.skipif(not HAS_PREDICTOR, reason='loc_core.inference.predictor not merged yet')
def test_corrupt_checkpoint_and_bad_model_config(calibration_file, tmp_path):
    corrupt = tmp_path / 'corrupt.safetensors'
    corrupt.write_bytes(b'\x00' * 64 + b'not a checkpoint')
    _one_line_failure(_run_node('-p', f'calibration_file:={calibration_file}', '-p', f'checkpoint:={corrupt}'),
                      'cannot load the model')
    config = tmp_path / 'model.json'
    config.write_text('{"inference": {"no_such_key": 1}}')
    _one_line_failure(_run_node('-p', f'calibration_file:={calibration_file}', '-p', f'model_config:={config}'),
                      'bad model config', 'no_such_key')


@pytest.mark.skipif(not HAS_PREDICTOR, reason='loc_core.inference.predictor not merged yet')
@pytest.mark.parametrize('sig', [signal.SIGINT, signal.SIGTERM], ids=['SIGINT', 'SIGTERM'])
def test_signal_stops_the_node_cleanly(calibration_file, sig):
    cmd = [sys.executable, '-m', 'loc_ros.node_main', '--ros-args', '-p', f'calibration_file:={calibration_file}',
           '-p', 'checkpoint:=none', '-p', "prompts:=['car','road']"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    output = ''
    deadline = time.monotonic() + 90
    while ']: ready' not in output and time.monotonic() < deadline and proc.poll() is None:
        output += proc.stdout.readline()
    assert ']: ready' in output, output
    proc.send_signal(sig)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output + rest
    assert 'shutting down' in rest and 'Traceback' not in rest


@pytest.mark.skipif(not HAS_PREDICTOR, reason='loc_core.inference.predictor not merged yet')
def test_signal_during_model_loading_exits_cleanly(calibration_file):
    cmd = [sys.executable, '-m', 'loc_ros.node_main', '--ros-args', '-p', f'calibration_file:={calibration_file}',
           '-p', 'checkpoint:=none']
    proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    started, deadline = '', time.monotonic() + 60
    while 'starting: loading the model' not in started and time.monotonic() < deadline and proc.poll() is None:
        started += proc.stdout.readline()  # rclpy is up (its signal handlers too), the model still loading
    assert 'starting: loading the model' in started, started
    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=60)
    output = started + output
    assert proc.returncode == 0, output
    assert 'stopped during startup' in output or 'shutting down' in output, output
    assert 'Traceback' not in output


def test_params_file_declares_known_parameters_with_matching_types(tmp_path, calibration_file):
    doc = yaml.safe_load((ROOT / 'config' / 'loc.yaml').read_text())
    params = doc['loc_node']['ros__parameters']
    assert set(params) == set(SPEC_BY_NAME) - set(MODEL_DEFAULTED)  # those default to the model's
    for name, value in params.items():
        assert type(value) is type(SPEC_BY_NAME[name].default), name
    # the node accepts the file (prompts, thresholds, QoS...) exactly as ros2 run would pass it
    import rclpy
    from ros_test_utils import HeightBandPredictor

    from loc_ros.node import LocNode

    isolate_ros('test_node_main')
    context = rclpy.Context()
    rclpy.init(context=context)
    try:
        node = LocNode(predictor=HeightBandPredictor(), context=context,
                       cli_args=['--ros-args', '--params-file', str(ROOT / 'config' / 'loc.yaml'),
                                 '-p', f'calibration_file:={calibration_file}'])
        assert node.prompts == tuple(params['prompts'])
        assert node.get_parameter('sync_slop_s').value == params['sync_slop_s']
        assert node.get_parameter('score_threshold').value == SPEC_BY_NAME['score_threshold'].default
        node.destroy_node()
    finally:
        rclpy.try_shutdown(context=context)


def test_launch_file_declares_its_arguments_and_ships_configs():
    tree = ast.parse((ROOT / 'launch' / 'loc.launch.py').read_text())
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    assert 'generate_launch_description' in functions
    declared = {c.args[0].value for c in ast.walk(tree) if isinstance(c, ast.Call)
                and getattr(c.func, 'id', '') == 'DeclareLaunchArgument'}
    assert {'params_file', 'rviz', 'bag', 'calibration_file', 'use_sim_time', 'bag_loop', 'bag_rate'} <= declared
    rviz = yaml.safe_load((ROOT / 'config' / 'loc.rviz').read_text())
    displays = rviz['Visualization Manager']['Displays']
    topics = {d['Topic']['Value']: d['Class'] for d in displays if 'Topic' in d}
    assert topics['/loc_node/markers'] == 'rviz_default_plugins/MarkerArray'
    assert topics['/loc_node/voxels'] == 'rviz_default_plugins/PointCloud2'
    assert sum(cls == 'rviz_default_plugins/Image' for cls in topics.values()) == 6
    assert rviz['Visualization Manager']['Global Options']['Fixed Frame'] == 'base_link'
