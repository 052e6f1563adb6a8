"""Motion in the town: the ego drives the main road, smoothly varying its speed and swaying in its
lane; every other object moves at its own constant speed along its heading (parked and static
objects have speed 0). Poses are smooth in time, so boxes and instance ids are consistent from
frame to frame."""
from __future__ import annotations

import numpy as np

from loc_core.geometry.transforms import compose, yaw_transform


class Motion:
    """Object and ego poses at time `t` seconds after the first frame, town frame."""

    def __init__(self, town):
        objects = town.objects
        self.town = town
        self.start_xy = np.array([(o.x, o.y) for o in objects], dtype=np.float64).reshape(-1, 2)
        self.yaw = np.array([o.yaw for o in objects], dtype=np.float64)
        self.speed = np.array([o.speed for o in objects], dtype=np.float64)
        self.radius = np.array([o.radius() for o in objects], dtype=np.float64)
        self.base_z = np.array([o.z for o in objects], dtype=np.float64)

    def object_poses(self, t: float) -> np.ndarray:
        """(K,3) float64 [x, y, yaw] of every object at time t (town frame, metres, radians)."""
        heading = np.stack([np.cos(self.yaw), np.sin(self.yaw)], axis=1)
        xy = self.start_xy + heading * (self.speed * t)[:, None]
        return np.concatenate([xy, self.yaw[:, None]], axis=1)

    def object_velocities(self) -> np.ndarray:
        """(K,3) float64 velocities, town frame, m/s (constant in time)."""
        vel = np.zeros((len(self.speed), 3))
        vel[:, 0] = np.cos(self.yaw) * self.speed
        vel[:, 1] = np.sin(self.yaw) * self.speed
        return vel

    def ego_pose(self, t: float) -> np.ndarray:
        """(3,) [x, y, yaw] of the ego (rear axle on the ground) at time t, town frame: along the
        main road at the town's mean speed, with a smooth speed variation and sway in its lane
        (`Town.ego_wobble`), heading along its velocity."""
        x0, y0 = self.town.ego_start
        ax, px, phx, ay, py, phy = self.town.ego_wobble
        wx, wy = 2 * np.pi / px, 2 * np.pi / py
        x = x0 + self.town.ego_speed * t + ax * (np.sin(wx * t + phx) - np.sin(phx))
        y = y0 + ay * (np.sin(wy * t + phy) - np.sin(phy))
        vx = self.town.ego_speed + ax * wx * np.cos(wx * t + phx)
        vy = ay * wy * np.cos(wy * t + phy)
        return np.array([x, y, np.arctan2(vy, vx)])

    def ego_to_town(self, t: float) -> np.ndarray:
        x, y, yaw = self.ego_pose(t)
        return yaw_transform(x, y, 0.0, yaw)

    def ego_to_world(self, t: float) -> np.ndarray:
        return compose(self.town.town_to_world, self.ego_to_town(t))

    def near(self, t: float, centre_xy, reach: float) -> np.ndarray:
        """(K,) bool: objects with any part within `reach` metres of `centre_xy` at time t."""
        poses = self.object_poses(t)
        dist = np.hypot(poses[:, 0] - centre_xy[0], poses[:, 1] - centre_xy[1])
        return dist - self.radius <= reach
