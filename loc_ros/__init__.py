"""loc_ros: the ROS 2 node around loc_core (all ROS imports live here and in rosbags_tools)."""
