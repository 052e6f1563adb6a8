"""Fill the town's blocks (the land between streets): buildings, parks, parking lots and
construction sites, each laid out in block coordinates: u along the street (town +x), v away
from the main road (metres from the sidewalk's outer edge)."""
from __future__ import annotations

import numpy as np

from loc_core.sim.assets import building_parts, fence_parts, hedge_parts, wall_parts
from loc_core.sim.ground import OTHER_FLAT, TERRAIN
from loc_core.sim.layout import place

BLOCK_KINDS = ('buildings', 'park', 'parking', 'construction')
BLOCK_WEIGHTS = (0.5, 0.2, 0.18, 0.12)
MIN_BLOCK_LENGTH = {'park': 5.0, 'construction': 6.0}  # metres along the street those kinds need


class Block:
    """A block's frame: x = x0 + u, y = sign * (y_in + v); yaws mirror with the side."""

    def __init__(self, rng, x0, x1, y_in, y_out, sign, ground, config):
        self.rng, self.x0, self.length, self.y_in, self.depth, self.sign = rng, x0, x1 - x0, y_in, y_out - y_in, sign
        self.ground, self.config, self.objects = ground, config, []

    def to_town(self, u, v):
        return self.x0 + u, self.sign * (self.y_in + v)

    def add(self, name, u, v, yaw_local=0.0, **kwargs):
        x, y = self.to_town(u, v)
        self.objects.append(place(self.rng, name, x, y, self.sign * yaw_local, **kwargs))

    def paint(self, u0, v0, u1, v1, class_id):
        xa, ya = self.to_town(u0, v0)
        xb, yb = self.to_town(u1, v1)
        self.ground.paint_rect(min(xa, xb), min(ya, yb), max(xa, xb), max(ya, yb), class_id)

    def count(self, per_100m2: float, density: float) -> int:
        return int(self.rng.poisson(per_100m2 * density * self.length * min(self.depth, 40.0) / 100.0))


def populate_blocks(rng, layout, ground, config, route_length) -> list:
    """Lay out every block; the blocks nearest the route get one of each kind first."""
    blocks = []
    for sign in (1, -1):
        edge, width = layout.side(sign)
        for a, b in layout.gaps(sign, lambda c: c.outer_half):
            blocks.append(Block(rng, a, b, edge + width, layout.y_extent, sign, ground, config))
    middle = route_length / 2
    order = sorted(range(len(blocks)), key=lambda i: abs(blocks[i].x0 + blocks[i].length / 2 - middle))
    kinds = [None] * len(blocks)
    first = list(rng.permutation(BLOCK_KINDS))
    for rank, i in enumerate(order):
        kinds[i] = first[rank] if rank < len(first) else BLOCK_KINDS[int(rng.choice(len(BLOCK_KINDS), p=BLOCK_WEIGHTS))]
    objects = []
    for block, kind in zip(blocks, kinds):
        if block.length >= MIN_BLOCK_LENGTH.get(kind, 0.0):  # slivers stay plain grass
            FILLERS[kind](block)
        objects += block.objects
    return objects


def _frontage(block: Block) -> float:
    """A strip along the sidewalk (grass or paving) with a hedge, wall or fence; returns its depth."""
    rng = block.rng
    depth = float(rng.uniform(2.0, 6.0))
    block.paint(0, 0, block.length, depth, TERRAIN if rng.random() < 0.6 else OTHER_FLAT)
    edge = rng.choice(['hedge', 'wall', 'fence', 'none', 'trees'], p=[0.25, 0.15, 0.2, 0.15, 0.25])
    if edge in ('hedge', 'wall', 'fence'):
        u = 1.0
        while u < block.length - 3.0:
            seg = float(min(rng.uniform(6.0, 18.0), block.length - 1.0 - u))
            if seg > 2.0:
                height = float(rng.uniform(0.9, 2.2))
                parts = {'hedge': lambda: hedge_parts(seg, height), 'wall': lambda: wall_parts(seg, height),
                         'fence': lambda: fence_parts(seg, height)}[edge]()
                name = 'hedge' if edge == 'hedge' else ('wall' if edge == 'wall' else 'fence')
                block.add(name, u + seg / 2, 0.8, parts=parts)
            u += seg + rng.uniform(2.0, 5.0)
    elif edge == 'trees':
        for u in np.arange(3.0, block.length - 3.0, rng.uniform(6.0, 10.0)):
            block.add('tree' if rng.random() < 0.75 else 'bush', float(u), depth / 2)
    return depth


def _buildings(block: Block):
    rng = block.rng
    front = _frontage(block)
    block.paint(0, front, block.length, block.depth, OTHER_FLAT)
    v = front + 1.0
    while v < block.depth - 8.0:
        u, row_depth = 1.0, float(rng.uniform(10.0, 22.0))
        row_depth = min(row_depth, block.depth - v - 1.0)
        while u < block.length - 6.0:
            width = float(min(rng.uniform(8.0, 24.0), block.length - 1.0 - u))
            if width > 5.0:
                height = float(rng.uniform(4.0, 18.0))
                block.add('building', u + width / 2, v + row_depth / 2,
                          parts=building_parts(width, row_depth, height, rng))
                if rng.random() < 0.3 * block.config.prop_density:
                    block.add('clutter', u + width / 2 + rng.uniform(-2, 2), v - 0.6)
            u += width + rng.uniform(0.0, 6.0)
        v += row_depth + rng.uniform(4.0, 12.0)


def _park(block: Block):
    rng = block.rng
    block.paint(0, 0, block.length, block.depth, TERRAIN)
    path_v = float(rng.uniform(6.0, 12.0))
    block.paint(0, path_v, block.length, path_v + 2.5, OTHER_FLAT)
    taken = []
    for _ in range(block.count(1.2, block.config.prop_density) + 2):
        u, v = rng.uniform(2.5, block.length - 2.5), rng.uniform(2.5, block.depth - 2.5)
        if path_v - 3.0 < v < path_v + 5.5 or any(np.hypot(u - a, v - b) < 5.0 for a, b in taken):
            continue
        taken.append((u, v))
        block.add(rng.choice(['tree', 'tree', 'bush']), u, v)
    for u in np.arange(5.0, block.length - 5.0, 25.0):
        block.add('street_lamp', float(u), path_v - 0.6, yaw_local=np.pi / 2)
    for _ in range(int(rng.poisson(2 * block.config.pedestrian_density))):
        block.add('pedestrian', rng.uniform(2.0, block.length - 2.0), path_v + 1.25,
                  yaw_local=float(rng.choice([0.0, np.pi])))
    if rng.random() < 0.5:
        block.add('hedge', block.length / 2, path_v + 4.2, parts=hedge_parts(block.length * 0.5, 1.2))


def _parking(block: Block):
    rng = block.rng
    block.paint(0, 0, block.length, block.depth, OTHER_FLAT)
    density = block.config.parked_density
    for row_v in (4.0, 16.0):  # two rows of stalls, cars nose to the road
        for u in np.arange(2.5, block.length - 2.5, 2.7):
            if rng.random() < 0.65 * min(density, 1.4):
                block.add('car', float(u), row_v + rng.uniform(-0.2, 0.2),
                          yaw_local=np.pi / 2 + rng.uniform(-0.05, 0.05))
            elif rng.random() < 0.08:
                block.add('clutter', float(u), row_v - 3.2)
    u = 4.0
    while u < block.length - 14.0:  # trucks and trailers along the back
        name = rng.choice(['truck', 'trailer', 'trailer', 'bus'])
        block.add(str(name), u + 6.0, 27.0, yaw_local=float(rng.choice([0.0, np.pi])))
        u += 15.0
    for _ in range(int(rng.poisson(1.5 * block.config.pedestrian_density))):
        if block.length <= 4.0:  # no walkway on a sliver of a lot
            break
        block.add('pedestrian', rng.uniform(2.0, block.length - 2.0), 10.0 + rng.uniform(-1.5, 1.5),
                  yaw_local=rng.uniform(-np.pi, np.pi))
    block.add('fence', block.length / 2, 33.0, parts=fence_parts(block.length - 2.0, 2.0))
    _buildings_behind(block, 36.0)


def _construction(block: Block):
    rng = block.rng
    block.paint(0, 0, block.length, block.depth, TERRAIN)
    block.paint(3.0, 3.0, block.length - 3.0, 30.0, OTHER_FLAT)
    for u in np.arange(3.0, block.length - 3.0, 2.6):  # barrier line along the sidewalk, with a gate
        if abs(u - block.length / 2) > 4.0:
            block.add('barrier', float(u), 1.2)
    for i in range(int(rng.integers(1, 3))):
        block.add('construction_vehicle', rng.uniform(8.0, max(block.length - 8.0, 9.0)), 10.0 + 8.0 * i,
                  yaw_local=rng.uniform(-np.pi, np.pi))
    for u in np.arange(block.length / 2 - 3.0, block.length / 2 + 3.5, 1.5):
        block.add('traffic_cone', float(u), 3.5)
    for _ in range(int(rng.integers(2, 6))):
        block.add('clutter', rng.uniform(3.0, block.length - 3.0), rng.uniform(27.5, 30.0))
    block.add('trailer', block.length / 2, 33.0, yaw_local=0.0)
    for _ in range(int(rng.poisson(1.0 * block.config.pedestrian_density)) + 1):
        block.add('pedestrian', rng.uniform(3.0, block.length - 3.0), rng.uniform(5.0, 7.0))
    _buildings_behind(block, 37.0)


def _buildings_behind(block: Block, v0: float):
    rng = block.rng
    u = 2.0
    while u < block.length - 8.0 and block.depth - v0 > 8.0:
        width = float(min(rng.uniform(10.0, 25.0), block.length - 1.0 - u))
        if width > 5.0:
            depth = float(min(rng.uniform(8.0, 20.0), block.depth - v0 - 1.0))
            block.add('building', u + width / 2, v0 + depth / 2,
                      parts=building_parts(width, depth, float(rng.uniform(5.0, 15.0)), rng))
        u += width + rng.uniform(1.0, 6.0)


FILLERS = {'buildings': _buildings, 'park': _park, 'parking': _parking, 'construction': _construction}
