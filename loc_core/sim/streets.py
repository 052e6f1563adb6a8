"""Populate the streets: sidewalk furniture, parked vehicles, moving traffic, pedestrians, cars
waiting at side streets and (in some scenes) novel objects. Town frame, metres, radians."""
from __future__ import annotations

import numpy as np

from loc_core.sim.assets import part_bounds
from loc_core.sim.ground import SIDEWALK_HEIGHT
from loc_core.sim.novel import NOVEL_STREAM_KEY, SCENE_NOVEL_ASSETS
from loc_core.sim.layout import LANE_WIDTH, Layout, place

MOVING_KINDS = ('car', 'truck', 'bus', 'motorcycle', 'bicycle')
MOVING_WEIGHTS = (0.72, 0.1, 0.06, 0.07, 0.05)
PARKED_KINDS = ('car', 'truck', 'motorcycle', 'bus', 'trailer', 'roadworks')
PARKED_WEIGHTS = (0.72, 0.07, 0.08, 0.04, 0.03, 0.06)
FURNITURE_KINDS = ('tree', 'street_lamp', 'sign', 'pole', 'clutter', 'bicycle', 'none')
FURNITURE_WEIGHTS = (0.3, 0.14, 0.1, 0.05, 0.1, 0.11, 0.2)
KERB_OFFSET = 0.55  # furniture line, metres from the kerb into the sidewalk
NOVEL_FRAMES = 20  # novel objects stand where the ego passes during the first 20 frames
# extra novel objects (`novel_extra_count`) stand in this band, metres from the kerb into the
# sidewalk: clear of the road and of the walking lanes (the first is 1.6 m in, people ~0.25 m wide)
EXTRA_BAND = (0.15, 1.3)
EXTRA_REACH = 30.0  # ... along x in [-30, seen span + 30] m: where the ego sees them early on
EXTRA_CLEARANCE = 0.1  # metres between an extra object's parts and any other part


def populate_streets(rng, layout: Layout, config, ego_start, ego_speed, route_length, has_novel) -> list:
    """All street objects; `ego_start` (x, y) and `ego_speed` keep the ego's lane clear."""
    duration = route_length / ego_speed if ego_speed > 0 else 0.0
    objects, reserved = [], {1: [], -1: []}
    if has_novel:
        seen_span = min(route_length, ego_speed * config.frame_interval_s * (NOVEL_FRAMES - 1))
        objects += _novel_objects(rng, layout, config, seen_span, reserved)
    objects += _furniture(rng, layout, config, reserved)
    objects += _parked(rng, layout, config)
    objects += _traffic(rng, layout, config, ego_start, ego_speed, duration)
    objects += _pedestrians(rng, layout, config, duration)
    objects += _side_streets(rng, layout, config)
    return objects


def _segments(layout: Layout, sign: int, pad: float = 2.0):
    """x-intervals of the main sidewalk on one side (between side streets), shrunk by `pad`."""
    return [(a + pad, b - pad) for a, b in layout.gaps(sign, lambda c: c.half_width) if b - a > 2 * pad + 1.0]


def _novel_objects(rng, layout, config, seen_span, reserved) -> list:
    """Novel objects on the sidewalks' furniture line, along the first `seen_span` metres of the
    route (and a little beyond), where the ego sees them; kinds from SCENE_NOVEL_ASSETS only."""
    out = []
    kinds = [n for n in config.novel_objects if n in SCENE_NOVEL_ASSETS]
    for _ in range(config.novel_count):
        sign = int(rng.choice([1, -1]))
        spans = [(max(a, -5.0), min(b, seen_span + 25.0)) for a, b in _segments(layout, sign)]
        spans = [(a, b) for a, b in spans if b - a > 2.0]
        if not spans:
            continue
        a, b = spans[int(rng.integers(len(spans)))]
        x = float(rng.uniform(a, b))
        if any(abs(x - r) < 2.5 for r in reserved[sign]):
            continue
        reserved[sign].append(x)
        edge, _ = layout.side(sign)
        name = str(rng.choice(kinds))
        out.append(place(rng, name, x, sign * (edge + KERB_OFFSET), float(rng.choice([0.0, np.pi])), z=SIDEWALK_HEIGHT))
    return out


def extra_novel_objects(seed: int, layout, config, objects, ego_speed, route_length) -> list:
    """`config.novel_extra_count` novel objects of kinds drawn uniformly from `config.novel_objects`,
    on the main sidewalks inside EXTRA_BAND from the kerb, along x in [-EXTRA_REACH, seen span +
    EXTRA_REACH] (the seen span as for the scene's novel objects). They come from their own random
    stream, `default_rng(SeedSequence(seed, spawn_key=(NOVEL_STREAM_KEY,)))`, and are placed after
    everything else, so the rest of the town is the same with or without them. A draw that would not
    fit the band or would come within EXTRA_CLEARANCE of another object's parts (at t = 0; nothing
    moves through the band) is skipped; at most 8 draws per object are made."""
    count, kinds = config.novel_extra_count, list(config.novel_objects)
    if count <= 0 or not kinds:
        return []
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(NOVEL_STREAM_KEY,)))
    seen_span = min(route_length, ego_speed * config.frame_interval_s * (NOVEL_FRAMES - 1))
    lower, upper = _town_part_bounds([o for o in objects if o.paint])
    out = []
    for _ in range(8 * count):
        if len(out) == count:
            break
        sign = int(rng.choice([1, -1]))
        name = str(rng.choice(kinds))
        yaw = float(rng.choice([0.0, np.pi]))
        obj = place(rng, name, 0.0, 0.0, yaw, z=SIDEWALK_HEIGHT)
        lo, hi = _town_part_bounds([obj])
        lo, hi = lo.min(axis=0), hi.max(axis=0)
        width = hi[1] - lo[1]
        near = max(EXTRA_BAND[0], KERB_OFFSET - width / 2)  # the furniture line when narrow enough
        spans = [(max(a, -EXTRA_REACH) - lo[0], min(b, seen_span + EXTRA_REACH) - hi[0])
                 for a, b in _segments(layout, sign)]
        spans = [(a, b) for a, b in spans if b - a > 0.5]
        if near + width > EXTRA_BAND[1] or not spans:
            continue
        a, b = spans[int(rng.integers(len(spans)))]
        edge, _ = layout.side(sign)
        obj.x = float(rng.uniform(a, b))
        # the side nearest the road `near` metres from the kerb
        obj.y = float(sign * (edge + near) - (lo[1] if sign > 0 else hi[1]))
        new_lo, new_hi = _town_part_bounds([obj])
        if len(lower) and _overlaps(new_lo, new_hi, lower, upper, EXTRA_CLEARANCE):
            continue
        out.append(obj)
        lower, upper = np.vstack([lower, new_lo]), np.vstack([upper, new_hi])
    return out


def _town_part_bounds(objects) -> tuple[np.ndarray, np.ndarray]:
    """Axis-aligned bounds (lower (P,3), upper (P,3)) of every part of `objects` at t = 0, town frame."""
    if not objects:
        return np.zeros((0, 3)), np.zeros((0, 3))
    rows = []
    for o in objects:
        parts = o.asset.parts.copy()
        c, s = np.cos(o.yaw), np.sin(o.yaw)
        x, y = parts[:, 1].copy(), parts[:, 2].copy()
        parts[:, 1], parts[:, 2] = o.x + c * x - s * y, o.y + s * x + c * y
        parts[:, 3] += o.z
        parts[:, 7] += o.yaw
        rows.append(parts)
    return part_bounds(np.concatenate(rows))


def _overlaps(new_lo, new_hi, lower, upper, clearance) -> bool:
    """Whether any box (new_lo[i], new_hi[i]) comes within `clearance` of any (lower[j], upper[j])."""
    apart = (new_lo[:, None] - clearance >= upper[None]) | (new_hi[:, None] + clearance <= lower[None])
    return bool((~apart.any(axis=2)).any())


def _furniture(rng, layout, config, reserved) -> list:
    out = []
    for sign in (1, -1):
        edge, _ = layout.side(sign)
        for a, b in _segments(layout, sign):
            x = a + rng.uniform(0.0, 3.0)
            while x < b:
                kind = str(rng.choice(FURNITURE_KINDS, p=FURNITURE_WEIGHTS))
                if kind != 'none' and not any(abs(x - r) < 2.0 for r in reserved[sign]):
                    yaw = 0.0 if kind in ('bicycle', 'clutter') else -sign * np.pi / 2
                    extra = {'trunk_min': 3.7} if kind == 'tree' else {}
                    out.append(place(rng, kind, x, sign * (edge + KERB_OFFSET), yaw, z=SIDEWALK_HEIGHT, **extra))
                x += rng.uniform(3.0, 9.0) / max(config.prop_density, 0.1)
    return out


def _clear_of_junctions(layout, sign, x, half_length, pad=6.0) -> bool:
    return all(abs(x - c.x) > c.half_width + pad + half_length for c in layout.cross)


def _parked(rng, layout, config) -> list:
    """Vehicles (and occasional road works) in the parking lanes, facing the traffic direction."""
    out = []
    for sign, width in ((1, layout.parking_north), (-1, layout.parking_south)):
        if width <= 0:
            continue
        y = sign * (layout.lanes * LANE_WIDTH + width / 2)
        yaw = 0.0 if sign < 0 else np.pi
        x = layout.x_min + rng.uniform(0.0, 5.0)
        while x < layout.x_max:
            if rng.random() > 0.75 * min(config.parked_density, 1.3):
                x += rng.uniform(5.0, 14.0)
                continue
            kind = str(rng.choice(PARKED_KINDS, p=PARKED_WEIGHTS))
            if kind == 'roadworks':
                if _clear_of_junctions(layout, sign, x + 5.0, 5.0):
                    out += _roadworks(rng, x, y, sign)
                x += 11.0
                continue
            obj = place(rng, kind, 0.0, y, yaw)
            half = obj.radius()
            if _clear_of_junctions(layout, sign, x + half, half):
                obj.x = float(x + half)
                out.append(obj)
            x += 2 * half + rng.uniform(0.8, 3.0)
    return out


def _roadworks(rng, x, y, sign) -> list:
    """Cones along the lane edge and barriers across the parking lane, about 10 m long."""
    out = [place(rng, 'traffic_cone', x + u, y - sign * 0.9, 0.0) for u in np.arange(0.5, 10.0, 2.0)]
    out += [place(rng, 'barrier', x + u, y + sign * 0.3, 0.0) for u in (3.0, 6.0)]
    return out


def _traffic(rng, layout, config, ego_start, ego_speed, duration) -> list:
    """Vehicles in every travel lane at a constant lane speed; the ego's lane moves at the ego's
    speed, with a vehicle ahead (and maybe one behind) at a fixed gap."""
    out = []
    ego_lane = layout.lanes - 1
    for direction in (1, -1):
        for lane in range(layout.lanes):
            y = -direction * (lane + 0.5) * LANE_WIDTH
            yaw = 0.0 if direction > 0 else np.pi
            if direction > 0 and lane == ego_lane:
                out += _ego_lane(rng, ego_start, ego_speed, y, yaw)
                continue
            speed = float(rng.uniform(3.0, 12.0))
            lo, hi = layout.x_min - speed * duration - 20.0, layout.x_max + speed * duration + 20.0
            x = lo + rng.uniform(0.0, 20.0)
            while x < hi:
                obj = place(rng, _moving_kind(rng), 0.0, y, yaw, speed, rider=True)
                half = obj.radius()
                obj.x = float(x + half)
                out.append(obj)
                x += 2 * half + rng.uniform(8.0, 40.0) / max(config.traffic_density, 0.05)
    return out


def _moving_kind(rng) -> str:
    return str(rng.choice(MOVING_KINDS, p=MOVING_WEIGHTS))


def _ego_lane(rng, ego_start, ego_speed, y, yaw) -> list:
    out = []
    if rng.random() < 0.7:
        lead = place(rng, _moving_kind(rng), 0.0, y, yaw, ego_speed, rider=True)
        lead.x = float(ego_start[0] + 4.0 + rng.uniform(8.0, 25.0) + lead.radius())
        out.append(lead)
    if rng.random() < 0.4:
        follow = place(rng, 'car', 0.0, y, yaw, ego_speed)
        follow.x = float(ego_start[0] - 1.5 - rng.uniform(6.0, 20.0) - follow.radius())
        out.append(follow)
    return out


def _pedestrians(rng, layout, config, duration) -> list:
    """Walkers in lanes along the main sidewalks (each lane one direction and speed), and people
    standing in the lane nearest the kerb."""
    out = []
    for sign in (1, -1):
        edge, width = layout.side(sign)
        lanes = np.arange(1.6, width - 0.35, 0.75)
        for index, offset in enumerate(lanes):
            y = sign * (edge + offset)
            standing = index == 0 and len(lanes) > 1
            speed = 0.0 if standing else float(rng.uniform(0.9, 1.5))
            yaw = float(rng.choice([0.0, np.pi]))
            lo, hi = layout.x_min - speed * duration, layout.x_max + speed * duration
            count = int(rng.poisson((hi - lo) / 30.0 * config.pedestrian_density))
            xs = np.sort(rng.uniform(lo, hi, count))
            xs = xs[np.concatenate([[True], np.diff(xs) > 1.5])] if count else xs
            for x in xs:
                out.append(place(rng, 'pedestrian', x, y, rng.uniform(-np.pi, np.pi) if standing else yaw, speed,
                                 z=SIDEWALK_HEIGHT))
    return out


def _side_streets(rng, layout, config) -> list:
    """Cars waiting at each side street's junction and cars parked along its kerbs."""
    out = []
    for c in layout.cross:
        for sign in (1, -1):
            if not (c.north if sign > 0 else c.south):
                continue
            edge, width = layout.side(sign)
            if rng.random() < 0.7:
                out.append(place(rng, 'car', c.x - sign * c.half_width / 2, sign * (edge + width + 3.2),
                                 -sign * np.pi / 2))
            for side in (-1, 1):
                for dist in np.arange(edge + width + 9.0, layout.y_extent - 4.0, rng.uniform(5.5, 8.0)):
                    if rng.random() < 0.6 * min(config.parked_density, 1.5):
                        out.append(place(rng, 'car', c.x + side * (c.half_width - 1.1), sign * dist,
                                         side * np.pi / 2 + rng.uniform(-0.03, 0.03)))
    return out
