"""The town's street plan and its objects, shared by the town builder (`town.py`) and the
populators (`streets.py`, `blocks.py`): lane width, the `Layout` of main road, side streets and
sidewalks, and `WorldObject`s placed in it.

Town frame: x along the main road (the ego's direction), y to its left, z up, metres."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loc_core.sim.assets import Asset, make_asset

LANE_WIDTH = 3.5


@dataclass
class WorldObject:
    """One object: its asset, its pose at t = 0 in the town frame (x, y metres, yaw radians)
    and a constant `speed` (m/s) along its heading; `paint` False for solids that the ground
    raster already describes (sidewalk slabs); `z` the height it stands on (0.15 on sidewalks)."""

    asset: Asset
    x: float
    y: float
    yaw: float
    speed: float = 0.0
    paint: bool = True
    z: float = 0.0

    def radius(self) -> float:
        """Horizontal radius of a circle around the origin holding all parts, metres."""
        lower, upper = self.asset.extent()
        return float(np.hypot(*np.maximum(np.abs(lower[:2]), np.abs(upper[:2]))))


@dataclass
class CrossStreet:
    """A side street crossing the main road at x = `x` (centre), `half_width` metres of road,
    `sidewalk` metres of sidewalk on each side, reaching to the north (y > 0) and/or south."""

    x: float
    half_width: float
    sidewalk: float
    north: bool
    south: bool

    @property
    def outer_half(self) -> float:
        return self.half_width + self.sidewalk


@dataclass
class Layout:
    """The street plan. Main road y in [-road_south, road_north]; sidewalks beyond it."""

    lanes: int
    parking_north: float
    parking_south: float
    sidewalk_north: float
    sidewalk_south: float
    x_min: float
    x_max: float
    y_extent: float
    cross: list = field(default_factory=list)

    @property
    def road_north(self) -> float:
        return self.lanes * LANE_WIDTH + self.parking_north

    @property
    def road_south(self) -> float:
        return self.lanes * LANE_WIDTH + self.parking_south

    def side(self, sign: int) -> tuple[float, float]:
        """(road edge |y|, sidewalk width) of the north (+1) or south (-1) side."""
        return (self.road_north, self.sidewalk_north) if sign > 0 else (self.road_south, self.sidewalk_south)

    def cross_on(self, sign: int) -> list:
        return [c for c in self.cross if (c.north if sign > 0 else c.south)]

    def gaps(self, sign: int, pad) -> list[tuple[float, float]]:
        """x-intervals between the cross streets on one side, each shrunk by `pad(c)` metres."""
        edges, start = [], self.x_min
        for c in self.cross_on(sign):
            edges.append((start, c.x - pad(c)))
            start = c.x + pad(c)
        edges.append((start, self.x_max))
        return [(a, b) for a, b in edges if b - a > 1.0]


def place(rng, name: str, x: float, y: float, yaw: float, speed: float = 0.0, z: float = 0.0,
          **kwargs) -> WorldObject:
    """A new randomised `name` asset at town-frame pose (x, y, yaw), standing at height `z`."""
    return WorldObject(make_asset(name, rng, **kwargs), float(x), float(y), float(yaw), float(speed), z=float(z))
