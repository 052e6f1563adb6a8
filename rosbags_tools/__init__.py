"""rosbags_tools: nuScenes and synthetic sequences to ROS 2 bags, playback, bags back to Frames."""
