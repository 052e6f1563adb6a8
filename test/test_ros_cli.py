"""The real ros2 CLI against a colcon-built loc_ros, as README's "On a robot or a car" tells users:
`colcon build`, `source install/setup.bash`, `ros2 launch` with a small synthetic bag looping on sim
time, `ros2 node list`, `ros2 topic echo/hz`, `ros2 param get/set/describe/dump`, then Ctrl-C.

ONE launch serves the whole module (module-scoped fixture, a 4-frame bag). Discovery under
`--no-daemon` on busy cores is slow and uneven, so every check retries until a deadline instead of
sleeping a fixed time. The tests run in file order; the last one stops the launch with SIGINT.
Needs the ros2 CLI wheels (../shared/ros2cli, installed by `make setup`): skipped without them,
except under CI (LOC_REQUIRE_ROS2CLI=1), where they must run."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from colcon_workspace import ROOT, SOURCE_COMMAND, VENV_BIN, colcon_build, sourced_environment
from ros_test_utils import ROS_DOMAIN_FOR_TESTS, ros_domain

if not (VENV_BIN / 'ros2').exists():
    reason = f'the ros2 CLI is not installed in {sys.prefix} (make setup installs ../shared/ros2cli/*.whl)'
    if os.environ.get('LOC_REQUIRE_ROS2CLI') == '1':
        raise RuntimeError(reason)
    pytest.skip(reason, allow_module_level=True)

OUTPUTS = ('/loc_node/markers', '/loc_node/voxels', '/loc_node/grid', '/loc_node/bev')
LAUNCH_ARGS = 'bag_loop:=true rviz:=false use_sim_time:=true'
# the commands as README writes them (test_readme_shows_these_commands keeps them in step)
README_COMMANDS = {
    'launch': f'ros2 launch loc_ros loc.launch.py bag:=BAG {LAUNCH_ARGS}',
    'legend': ('ros2 topic echo --once --full-length --qos-durability transient_local --qos-reliability reliable '
               '/loc_node/legend std_msgs/msg/String'),
    'diagnostics': 'ros2 topic echo --once --full-length /diagnostics diagnostic_msgs/msg/DiagnosticArray',
    'hz': 'ros2 topic hz ' + ' '.join(OUTPUTS) + ' /diagnostics',
    'set_prompts': "ros2 param set /loc_node prompts \"['car', 'stroller', 'traffic cone']\"",
    'describe': 'ros2 param describe /loc_node prompts',
    'source': SOURCE_COMMAND,
}
SPIN = ['--no-daemon']
EXIT_DEADLINE_S = 10.0


def _default_sigint():
    """In the child: SIGINT back to its default, since a parent started as a background job of a
    non-interactive shell passes SIGINT on ignored (then Ctrl-C could not reach the child)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _run(env, *args, timeout=30.0, cwd=None):
    """Run a ros2 command; a command still running at `timeout` gets SIGINT, like Ctrl-C."""
    proc = subprocess.Popen(list(args), env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True, preexec_fn=_default_sigint)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=15)
    return proc.returncode, out, err


def _param(env, *args):
    """`ros2 param VERB --no-daemon ARGS`, repeated while discovery has not yet found the node or
    its parameter services ("Node not found" or a failed call, which --no-daemon on busy cores gives
    now and then; every verb used here exits 0 once it reached the node, a refused set too)."""
    def found():
        rc, out, err = _run(env, 'ros2', 'param', args[0], *SPIN, *args[1:])
        assert rc == 0 and 'Node not found' not in out + err, (rc, err)
        return rc, out, err
    return _until(found, 60, f'ros2 param {args[0]} finding /loc_node')


def _until(check, timeout: float, what: str):
    """Call check() until it returns something truthy (retrying on AssertionError too); the last
    failure explains a timeout."""
    deadline, last = time.monotonic() + timeout, None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
    raise AssertionError(f'{what} not within {timeout:.0f} s; last: {last}')


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    ws = tmp_path_factory.mktemp('ros2_ws')
    colcon_build(ws)
    base = dict(os.environ, ROS_DOMAIN_ID=str(ros_domain(ROS_DOMAIN_FOR_TESTS['test_ros_cli'])),
                ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST', HF_HUB_OFFLINE='1')
    base.pop('FASTDDS_DEFAULT_PROFILES_FILE', None)
    return ws, sourced_environment(ws, base)


@pytest.fixture(scope='module')
def bag(tmp_path_factory, workspace):
    """A 4-frame synthetic bag (1.5 s: each loop is a 1.5 s jump back, past the 1 s threshold)."""
    path = tmp_path_factory.mktemp('bag') / 'synth'
    rc, out, err = _run(workspace[1], 'loc-bag', 'synth2bag', '--seed', '0', '--frames', '4', '--out', str(path),
                        '--no-progress', timeout=120)
    assert rc == 0, err
    return path


@pytest.fixture(scope='module')
def launch(workspace, bag, tmp_path_factory):
    ws, env = workspace
    log_path = tmp_path_factory.mktemp('launch') / 'launch.log'
    with open(log_path, 'w') as log:
        proc = subprocess.Popen(README_COMMANDS['launch'].replace('BAG', str(bag)).split(), cwd=ws, env=env,
                                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
                                preexec_fn=_default_sigint)
    yield proc, log_path
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)


def test_readme_shows_these_commands():
    readme = (ROOT / 'README.md').read_text()
    for name, command in README_COMMANDS.items():
        assert command.replace('BAG', '/data/scene-0916') in readme, name


def test_launch_show_args_lists_every_argument(workspace):
    ws, env = workspace
    rc, out, err = _run(env, 'ros2', 'launch', 'loc_ros', 'loc.launch.py', '--show-args', cwd=ws)
    assert rc == 0, err
    shown = re.findall(r"^\s+'(\w+)':", out, flags=re.M)
    assert shown == ['params_file', 'rviz', 'rviz_config', 'bag', 'calibration_file', 'use_sim_time', 'bag_loop',
                     'bag_rate', 'dds_profile']


def test_node_and_player_appear(launch, workspace):
    env = workspace[1]

    def listed():
        rc, out, err = _run(env, 'ros2', 'node', 'list', *SPIN, '--spin-time', '2')
        assert rc == 0, err
        names = set(out.split())
        assert {'/loc_node', '/loc_bag_player'} <= names, names
        return names
    _until(listed, 120, 'loc_node and the bag player in `ros2 node list`')
    # launch_ros found loc-bag in the colcon install (not on PATH), and both got the shipped DDS profile
    import psutil

    children = {' '.join(p.cmdline()): p for p in psutil.Process(launch[0].pid).children(recursive=True)}
    player = [p for cmd, p in children.items() if ' play ' in cmd]
    node = [p for cmd, p in children.items() if 'lib/loc_ros/loc_node' in cmd]
    assert len(player) == 1 and len(node) == 1, list(children)
    assert str(workspace[0] / 'install' / 'loc_ros' / 'lib' / 'loc_ros' / 'loc-bag') in player[0].cmdline()
    for process in (player[0], node[0]):
        profile = process.environ().get('FASTDDS_DEFAULT_PROFILES_FILE', '')
        assert profile.endswith('share/loc_ros/config/fastdds_large_messages.xml') and Path(profile).is_file()


def _echo_once(env, command: str) -> dict:
    words = command.split()
    rc, out, err = _run(env, *words[:3], *SPIN, *words[3:], timeout=20)  # no daemon left behind
    assert rc == 0 and out.strip(), err
    return yaml.safe_load(out.split('\n---')[0])


def test_latched_legend_echoes_in_full(launch, workspace):
    doc = _until(lambda: _echo_once(workspace[1], README_COMMANDS['legend']), 90, 'the legend')
    legend = json.loads(doc['data'])  # the whole JSON: --full-length keeps it uncut
    assert [c['prompt'] for c in legend['classes']][:3] == ['other object', 'barrier', 'bicycle']
    assert legend['grid']['shape'] == [200, 200, 16]


def test_diagnostics_echo_shows_frames_published(launch, workspace):
    def published():
        doc = _echo_once(workspace[1], README_COMMANDS['diagnostics'])
        status = doc['status'][0]
        values = {v['key']: v['value'] for v in status['values']}
        assert status['name'] == 'loc_node: pipeline'
        assert int(values.get('published', 0)) >= 2, values
        return values
    values = _until(published, 120, '2 published frames in /diagnostics')
    assert int(values['sync_resets']) >= 1  # the bag looped and the node followed


def test_topic_hz_measures_every_output(launch, workspace):
    """`ros2 topic hz` subscribes best-effort: it reports a rate only for outputs whose messages
    reach a best-effort subscriber whole (the multi-megabyte ones need the launch's DDS profile)."""
    def rates():
        rc, out, err = _run(workspace[1], *README_COMMANDS['hz'].split(), timeout=12)
        found = {m.group(1): float(m.group(2)) for m in re.finditer(r'^(/\S+)\s+([\d.]+)\s', out, flags=re.M)}
        missing = [t for t in (*OUTPUTS, '/diagnostics') if t not in found]
        assert not missing, f'no rate for {missing}: {out[-800:]} {err[-400:]}'
        return found
    found = _until(rates, 150, 'a rate for every output')
    assert all(rate > 0 for rate in found.values()), found


def test_param_get_describe_dump(launch, workspace):
    env = workspace[1]
    rc, out, err = _param(env, 'get', '/loc_node', 'score_threshold')
    assert rc == 0 and re.match(r'Double value is: 0\.\d+', out), (out, err)
    rc, out, err = _param(env, 'describe', '/loc_node', 'prompts')
    assert rc == 0, err
    assert 'Type: string array' in out and 'Additional constraints: 1-128 unique prompts' in out, out
    rc, out, err = _param(env, 'describe', '/loc_node', 'checkpoint')
    assert 'Read only: true' in out, out
    rc, out, err = _param(env, 'dump', '/loc_node')
    assert rc == 0, err
    dumped = yaml.safe_load(out)['/loc_node']['ros__parameters']
    assert dumped['checkpoint'] == 'real' and dumped['use_sim_time'] is True
    assert dumped['calibration_file'].endswith('calibration.yaml')


def test_wrongly_typed_set_is_refused(launch, workspace):
    env = workspace[1]
    rc, out, err = _param(env, 'set', '/loc_node', 'prompts', '42')
    assert rc == 0  # upstream ros2param exits 0 on a refused set: the text tells
    assert "Setting parameter failed: Wrong parameter type, expected '9' got '2'" in err, (out, err)
    rc, out, err = _param(env, 'set', '/loc_node', 'score_threshold', '2.0')
    assert 'Setting parameter failed' in err, (out, err)


def test_prompt_set_changes_the_legend(launch, workspace):
    env = workspace[1]
    rc, out, err = _param(env, 'set', '/loc_node', 'prompts', "['car', 'stroller', 'traffic cone']")
    assert rc == 0 and 'Set parameter successful' in out, (out, err)

    def new_legend():
        legend = json.loads(_echo_once(env, README_COMMANDS['legend'])['data'])
        prompts = [c['prompt'] for c in legend['classes']]
        assert prompts == ['car', 'stroller', 'traffic cone'], prompts
        return legend
    legend = _until(new_legend, 60, 'the legend with the new prompts')
    assert legend['classes'][0]['occ3d_id'] == 4 and legend['classes'][1]['occ3d_id'] == -1


def test_ctrl_c_stops_every_process_cleanly(launch):
    proc, log_path = launch
    assert proc.poll() is None, log_path.read_text()[-3000:]
    proc.send_signal(signal.SIGINT)
    start = time.monotonic()
    try:
        rc = proc.wait(EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired:
        pytest.fail(f'ros2 launch still running {EXIT_DEADLINE_S} s after SIGINT:\n{log_path.read_text()[-3000:]}')
    log = log_path.read_text()
    assert rc == 0, log[-3000:]
    assert time.monotonic() - start < EXIT_DEADLINE_S
    assert 'Traceback' not in log and '[ERROR]' not in log and 'context is invalid' not in log, log[-3000:]
    for process in ('loc_node-1', 'loc-bag-2'):
        assert re.search(rf'\[INFO\] \[{process}\]: process has finished cleanly', log), (process, log[-3000:])
