"""Launch loc_node, optionally RViz and a bag to play.

    ros2 launch loc_ros loc.launch.py [params_file:=...] [rviz:=true|false] [bag:=/path/to/bag]
                                      [calibration_file:=...] [use_sim_time:=true|false]
                                      [bag_loop:=true|false] [bag_rate:=1.0] [dds_profile:=...]

With `bag:=` and no `calibration_file:=`, the node uses the calibration `loc-bag` wrote into the bag
folder (<bag>/calibration.yaml). The bag is played with `loc-bag play` (waits for subscribers), with
`--loop` when bag_loop is true and `--clock` when use_sim_time is true (the node and RViz then run
on the bag's /clock). `loc-bag` is found like every package executable (install/loc_ros/lib/loc_ros).

Every process started here gets FASTDDS_DEFAULT_PROFILES_FILE = config/fastdds_large_messages.xml (a
32 MiB shared-memory segment, so best-effort subscribers on this machine receive the multi-megabyte
outputs and the node its LiDAR clouds; see that file), unless `dds_profile:=` names another file,
`dds_profile:=none` leaves the environment as it is, or the variable is already set."""
import os

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, ExecuteProcess, OpaqueFunction
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node
from launch_ros.substitutions import ExecutableInPackage
from ament_index_python.packages import get_package_share_directory

TRUE_VALUES = ('true', '1', 'yes', 'on')
DDS_PROFILE_VARIABLE = 'FASTDDS_DEFAULT_PROFILES_FILE'
DDS_PROFILE_FILE = 'fastdds_large_messages.xml'


def _dds_environment(context, share: str) -> dict:
    """The environment the launched processes get on top of this one: the Fast DDS profile."""
    chosen = LaunchConfiguration('dds_profile').perform(context)
    if chosen == 'none' or (not chosen and os.environ.get(DDS_PROFILE_VARIABLE)):
        return {}
    return {DDS_PROFILE_VARIABLE: chosen or os.path.join(share, 'config', DDS_PROFILE_FILE)}


def _actions(context):
    share = get_package_share_directory('loc_ros')
    params_file = LaunchConfiguration('params_file').perform(context) or os.path.join(share, 'config', 'loc.yaml')
    bag = LaunchConfiguration('bag').perform(context)
    calibration = LaunchConfiguration('calibration_file').perform(context)
    if bag and not calibration:
        calibration = os.path.join(bag, 'calibration.yaml')
    sim_time = LaunchConfiguration('use_sim_time').perform(context).lower() in TRUE_VALUES
    env = _dds_environment(context, share)
    parameters = [params_file, {'use_sim_time': sim_time}] + ([{'calibration_file': calibration}] if calibration else [])
    actions = [Node(package='loc_ros', executable='loc_node', name='loc_node', output='screen',
                    parameters=parameters, emulate_tty=True, additional_env=env)]
    if LaunchConfiguration('rviz').perform(context).lower() in TRUE_VALUES:
        rviz_config = LaunchConfiguration('rviz_config').perform(context) or os.path.join(share, 'config', 'loc.rviz')
        actions.append(Node(package='rviz2', executable='rviz2', arguments=['-d', rviz_config], output='log',
                            parameters=[{'use_sim_time': sim_time}], additional_env=env))
    if bag:
        cmd = [ExecutableInPackage('loc-bag', 'loc_ros'), 'play', bag, '--wait-for-subscribers', '10',
               '--rate', LaunchConfiguration('bag_rate').perform(context)]
        if LaunchConfiguration('bag_loop').perform(context).lower() in TRUE_VALUES:
            cmd.append('--loop')
        if sim_time:
            cmd.append('--clock')
        actions.append(ExecuteProcess(cmd=cmd, name='loc-bag', output='screen', additional_env=env))
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
        DeclareLaunchArgument('dds_profile', default_value='',
                              description='Fast DDS XML profile for the started processes (default: the package '
                              f'config/{DDS_PROFILE_FILE} unless {DDS_PROFILE_VARIABLE} is set; none: leave it)'),
        OpaqueFunction(function=_actions),
    ])
