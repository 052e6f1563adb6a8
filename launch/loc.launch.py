"""Launch loc_node, optionally RViz and a bag to play.

    ros2 launch loc_ros loc.launch.py [params_file:=...] [rviz:=true|false] [bag:=/path/to/bag]
                                      [calibration_file:=...] [use_sim_time:=true|false]
                                      [bag_loop:=true|false] [bag_rate:=1.0]

With `bag:=` and no `calibration_file:=`, the node uses the calibration `loc-bag` wrote into the bag
folder (<bag>/calibration.yaml). The bag is played with `loc-bag play` (waits for subscribers), with
`--loop` when bag_loop is true and `--clock` when use_sim_time is true (the node and RViz then run
on the bag's /clock)."""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from ament_index_python.packages import get_package_share_directory

TRUE_VALUES = ('true', '1', 'yes', 'on')


def _actions(context):
    share = get_package_share_directory('loc_ros')
    params_file = LaunchConfiguration('params_file').perform(context) or os.path.join(share, 'config', 'loc.yaml')
    bag = LaunchConfiguration('bag').perform(context)
    calibration = LaunchConfiguration('calibration_file').perform(context)
    if bag and not calibration:
        calibration = os.path.join(bag, 'calibration.yaml')
    sim_time = LaunchConfiguration('use_sim_time').perform(context).lower() in TRUE_VALUES
    parameters = [params_file, {'use_sim_time': sim_time}] + ([{'calibration_file': calibration}] if calibration else [])
    actions = [Node(package='loc_ros', executable='loc_node', name='loc_node', output='screen',
                    parameters=parameters, emulate_tty=True)]
    if LaunchConfiguration('rviz').perform(context).lower() in TRUE_VALUES:
        rviz_config = LaunchConfiguration('rviz_config').perform(context) or os.path.join(share, 'config', 'loc.rviz')
        actions.append(Node(package='rviz2', executable='rviz2', arguments=['-d', rviz_config], output='log',
                            parameters=[{'use_sim_time': sim_time}]))
    if bag:
        cmd = ['loc-bag', 'play', bag, '--wait-for-subscribers', '10',
               '--rate', LaunchConfiguration('bag_rate').perform(context)]
        if LaunchConfiguration('bag_loop').perform(context).lower() in TRUE_VALUES:
            cmd.append('--loop')
        if sim_time:
            cmd.append('--clock')
        actions.append(ExecuteProcess(cmd=cmd, output='screen'))
    return actions


def generate_launch_description():
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value='', description='loc_node parameters YAML '
                              '(default: the package config/loc.yaml)'),
        DeclareLaunchArgument('rviz', default_value='true', choices=['true', 'false'],
                              description='start RViz with config/loc.rviz'),
        DeclareLaunchArgument('rviz_config', default_value='', description='RViz config (default: config/loc.rviz)'),
        DeclareLaunchArgument('bag', default_value='', description='optional bag folder to play'),
        DeclareLaunchArgument('calibration_file', default_value='',
                              description='rig calibration YAML (default: the params file, or <bag>/calibration.yaml)'),
        DeclareLaunchArgument('use_sim_time', default_value='false', choices=['true', 'false'],
                              description='run the node (and RViz) on /clock; with bag:=, the player publishes it'),
        DeclareLaunchArgument('bag_loop', default_value='false', choices=['true', 'false'],
                              description='with bag:=, play it in a loop (the node resets on each jump back)'),
        DeclareLaunchArgument('bag_rate', default_value='1.0', description='with bag:=, the playback speed factor'),
        OpaqueFunction(function=_actions),
    ])
