"""The seeded procedural town: a main road the ego drives along, crossing side streets,
kerbed sidewalks and blocks (buildings, parks, parking lots, construction sites), populated with
props and agents by `streets.py` and `blocks.py` (the plan's types live in `layout.py`).

Town frame: x along the main road (the ego's direction), y to its left, z up, metres; the main
road's centre line is y = 0 and the ground is z = 0 (sidewalks are kerbed 0.15 m higher).
`Town.town_to_world` places the town in the world (a random yaw and offset, like map coordinates)."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.geometry.transforms import yaw_transform
from loc_core.sim.assets import Asset
from loc_core.sim.blocks import populate_blocks
from loc_core.sim.config import SimConfig
from loc_core.sim.ground import DRIVEABLE, SIDEWALK, SIDEWALK_HEIGHT, GroundMap
from loc_core.sim.layout import LANE_WIDTH, CrossStreet, Layout, WorldObject
from loc_core.sim.novel import SCENE_NOVEL_ASSETS
from loc_core.sim.streets import extra_novel_objects, populate_streets

MARGIN = 75.0  # town extent beyond the ego route and to each side, metres
TOWN_MIN_FRAMES = 40  # towns are built for at least this many frames: sequences of up to 40
# frames of one seed share their town, so their common frames are identical


@dataclass
class Town:
    seed: int
    layout: Layout
    ground: GroundMap
    objects: list
    ego_start: tuple
    ego_speed: float
    town_to_world: np.ndarray
    sun_direction: np.ndarray
    has_novel: bool = False
    ego_wobble: tuple = (0.0, 1.0, 0.0, 0.0, 1.0, 0.0)  # see `ego_wobble`


def plan_layout(rng: np.random.Generator, route_length: float) -> Layout:
    """Draw the street plan for a route of `route_length` metres starting at x = 0."""
    lanes = int(rng.integers(1, 3))
    layout = Layout(
        lanes=lanes, parking_north=2.5, parking_south=float(rng.choice([0.0, 2.5])),
        sidewalk_north=float(rng.uniform(3.0, 5.5)), sidewalk_south=float(rng.uniform(3.0, 5.5)),
        x_min=-MARGIN, x_max=route_length + MARGIN, y_extent=MARGIN)
    x = layout.x_min + rng.uniform(15.0, 45.0)
    while x < layout.x_max - 10.0:
        north, south = [(True, True), (True, False), (False, True)][int(rng.choice(3, p=[0.6, 0.2, 0.2]))]
        layout.cross.append(CrossStreet(float(x), float(rng.uniform(3.5, 5.0)), float(rng.uniform(2.5, 3.5)),
                                        north, south))
        x += rng.uniform(45.0, 90.0)
    return layout


def paint_streets(layout: Layout, ground: GroundMap) -> list[WorldObject]:
    """Paint roads and sidewalks into `ground`; return the sidewalk slabs (kerbed solids)."""
    slabs = []
    ground.paint_rect(layout.x_min, -layout.road_south, layout.x_max, layout.road_north, DRIVEABLE)
    for sign in (1, -1):
        edge, width = layout.side(sign)
        for c in layout.cross_on(sign):
            y0, y1 = sorted((sign * edge, sign * layout.y_extent))
            ground.paint_rect(c.x - c.half_width, y0, c.x + c.half_width, y1, DRIVEABLE)
            for side in (-1, 1):  # the side street's own sidewalks, beyond the main sidewalk
                xa = c.x + side * c.half_width
                xb = c.x + side * c.outer_half
                ya, yb = sorted((sign * (edge + width), sign * layout.y_extent))
                slabs.append(_slab(ground, min(xa, xb), ya, max(xa, xb), yb))
        for a, b in layout.gaps(sign, lambda c: c.half_width):
            y0, y1 = sorted((sign * edge, sign * (edge + width)))
            slabs.append(_slab(ground, a, y0, b, y1))
    return slabs


def _slab(ground: GroundMap, x0, y0, x1, y1) -> WorldObject:
    ground.paint_rect(x0, y0, x1, y1, SIDEWALK)
    depth = 0.4
    parts = [(0, 0.0, 0.0, SIDEWALK_HEIGHT - depth / 2, x1 - x0, y1 - y0, depth, 0.0)]
    asset = Asset('sidewalk', SIDEWALK, np.asarray(parts, dtype=np.float64), np.array([0.68, 0.66, 0.62]))
    return WorldObject(asset, (x0 + x1) / 2, (y0 + y1) / 2, 0.0, paint=False)


def random_town_to_world(rng: np.random.Generator) -> np.ndarray:
    """(4,4) float64: a random placement of the town in a map-like world frame."""
    return yaw_transform(rng.uniform(200.0, 2000.0), rng.uniform(200.0, 2000.0), 0.0, rng.uniform(-np.pi, np.pi))


def sun_direction(rng: np.random.Generator) -> np.ndarray:
    """(3,) unit vector towards the sun, town frame."""
    elevation, azimuth = np.radians(rng.uniform(30.0, 65.0)), rng.uniform(-np.pi, np.pi)
    return np.array([np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation)])


def build_town(seed: int, num_frames: int, config: SimConfig) -> Town:
    """The whole town for `seed`, covering the ego route of max(num_frames, TOWN_MIN_FRAMES)
    frames with margins."""
    rng = np.random.default_rng(seed)
    ego_speed = float(rng.uniform(*config.ego_speed_range))
    route_length = ego_speed * config.frame_interval_s * (max(num_frames, TOWN_MIN_FRAMES) - 1)
    layout = plan_layout(rng, route_length)
    ground = GroundMap((layout.x_min - 5, -layout.y_extent - 5), (layout.x_max + 5, layout.y_extent + 5))
    objects = paint_streets(layout, ground)
    ego_start = (0.0, -(layout.lanes - 0.5) * LANE_WIDTH)
    objects += populate_blocks(rng, layout, ground, config, route_length)
    scene_kinds = [n for n in config.novel_objects if n in SCENE_NOVEL_ASSETS]
    has_novel = bool(scene_kinds) and config.novel_count > 0 and rng.random() < config.novel_probability
    objects += populate_streets(rng, layout, config, ego_start, ego_speed, route_length, has_novel)
    disabled = set(config.disabled_classes)
    if disabled:
        from loc_core.data.vocabulary import OCC3D_CLASS_NAMES
        objects = [o for o in objects if not (o.asset.is_thing and o.asset.novel_id == 0
                                              and OCC3D_CLASS_NAMES[o.asset.class_id] in disabled)]
    extra = extra_novel_objects(seed, layout, config, objects, ego_speed, route_length)  # own random stream
    objects += extra
    has_novel = has_novel or bool(extra)
    town = Town(seed, layout, ground, objects, ego_start, ego_speed, random_town_to_world(rng),
                sun_direction(rng), has_novel)
    town.ego_wobble = ego_wobble(rng, ego_speed)
    return town


def ego_wobble(rng: np.random.Generator, speed: float) -> tuple:
    """(along amplitude m, period s, phase, across amplitude m, period s, phase): the ego's
    speed varies by up to 8 % and it sways up to 0.35 m within its lane (less below 4 m/s), smoothly."""
    along_period, across_period = rng.uniform(8.0, 16.0), rng.uniform(6.0, 14.0)
    return (float(rng.uniform(0.0, 0.08) * speed * along_period / (2 * np.pi)), float(along_period),
            float(rng.uniform(0, 2 * np.pi)), float(rng.uniform(0.05, 0.35) * min(1.0, speed / 4.0)),
            float(across_period), float(rng.uniform(0, 2 * np.pi)))
