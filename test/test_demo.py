"""The demo loop end to end in a child process (as `make demo` runs it), on a short synthetic
sequence: loc_node starts with the shipped checkpoint, every played frame is published, the prompt
change is accepted and shows in the outputs, and the summary and pictures are written."""
import json
import os
import subprocess
import sys

import pytest
from ros_test_utils import ros_domain

pytestmark = pytest.mark.ros


def test_demo_loop_on_a_short_synthetic_sequence(tmp_path):
    out = tmp_path / 'demo'
    env = dict(os.environ, LOC_DEMO_DOMAIN_ID=str(ros_domain(49)))
    run = subprocess.run([sys.executable, '-m', 'loc_ros.demo.cli', '--frames', '4', '--out', str(out),
                          '--cache', str(tmp_path / 'cache')], env=env, capture_output=True, text=True,
                         timeout=400)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    summary = json.loads((out / 'summary.json').read_text())
    assert summary['prompt_change'] == 'accepted'
    assert summary['node']['frames_published'] >= 2  # of 4; the one-slot buffer may drop one under load
    assert summary['before']['frames'] >= 1 and summary['after']['frames'] >= 1
    assert 'vehicle' in summary['after']['prompts'] and 'car' not in summary['after']['prompts']
    assert 0 <= summary['before']['geometry_iou'] <= 100
    for name in ('before_camera.png', 'before_bev.png', 'before_voxels3d.png', 'after_camera.png'):
        assert (out / name).stat().st_size > 1000, name
    assert 'after the prompt change' in (out / 'summary.md').read_text()
    after_legend = json.loads((out / 'after_legend.json').read_text())
    assert [c['prompt'] for c in after_legend['classes']][-5:] == ['stroller', 'shopping cart', 'dog', 'tyre', 'bench']
