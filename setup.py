"""ament_python package `loc_ros`: installs loc_core, loc_ros and rosbags_tools.

Builds with colcon on a full ROS 2 install and with `pip install -e .` on a plain Python.
"""
from glob import glob

from setuptools import find_packages, setup

PACKAGE = 'loc_ros'

setup(
    name=PACKAGE,
    version='0.1.0',
    packages=find_packages(include=['loc_core', 'loc_core.*', 'loc_ros', 'loc_ros.*',
                                    'rosbags_tools', 'rosbags_tools.*']),
    package_data={'loc_core': ['model_configs/*.json', 'checkpoints/*.safetensors',
                               'checkpoints/*.json', 'checkpoints/*.yaml', 'sim/presets/*.yaml']},
    data_files=[
        ('share/ament_index/resource_index/packages', ['resource/' + PACKAGE]),
        ('share/' + PACKAGE, ['package.xml']),
        ('share/' + PACKAGE + '/launch', glob('launch/*.launch.py')),
        ('share/' + PACKAGE + '/config', glob('config/*.yaml') + glob('config/*.rviz') + glob('config/*.xml')),
    ],
    install_requires=['setuptools'],
    # optional: `loc-gt --ray` / `loc-train --ray` (pinned in requirements/ray.txt)
    extras_require={'ray': ['ray>=2.60,<3']},
    zip_safe=True,
    maintainer='LOC ROS 2 team',
    maintainer_email='loc-ros@example.com',
    description='LOC: language-guided open-set 3D occupancy prediction for ROS 2',
    license='Apache-2.0',
    entry_points={
        'console_scripts': [
            'loc_node = loc_ros.node_main:main',
            'loc-sim = loc_core.sim.cli:main',
            'loc-gt = loc_core.gt.cli:main',
            'loc-train = loc_core.train.cli:main',
            'loc-train-shards = loc_core.train.shards:main',
            'loc-eval = loc_core.evaluation.cli:main',
            'loc-export = loc_core.tools.export_cli:main',
            'loc-bag = rosbags_tools.cli:main',
        ],
    },
)
