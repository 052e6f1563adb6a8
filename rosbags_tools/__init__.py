"""rosbags_tools: nuScenes and synthetic sequences to ROS 2 bags, playback, bags back to Frames.

Command: `loc-bag` (`cli.py`). Writing: `writer.write_frames_to_bag` (any Frames, all-or-nothing
via `output.py`) with `frame_messages.py` / `messages.py` / `pointcloud.py` building the messages
(`conventions.py`: topics, frames, QoS, typestore); `nuscenes2bag.py` and `synth2bag.py` are thin
sources on top. Reading: `reader.BagFrameSource` (with `camera_sync.py` and `loc_core.geometry.pose_track`).
Playing: `player.BagPlayer` (rclpy, raw CDR). Never imported by loc_core."""
