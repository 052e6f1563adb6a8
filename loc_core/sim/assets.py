"""Object assets: each object is a few solid primitives (parts) in its own frame.

Object frame: origin on the ground under the object's centre, x forward (length), y left (width),
z up, metres. A part row is `(kind, cx, cy, cz, sx, sy, sz, yaw)`: its centre, its full size and
its rotation about z in the object frame. Kinds: BOX (sx, sy, sz = length, width, height),
CYLINDER (vertical axis; sx = diameter, sz = height), SPHERE (sx = diameter). These solids are
exact: ground truth fills them analytically; the sensors see their triangle meshes."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from loc_core.sim.novel import NOVEL_ASSETS

BOX, CYLINDER, SPHERE = 0, 1, 2
# part materials: BODY takes the object's own colour, the others a fixed one (MATERIAL_ALBEDO)
BODY, DARK, GLASS, BARK, SKIN, METAL, LIGHT, ROOF = range(8)
MATERIAL_ALBEDO = np.array([(0.5, 0.5, 0.5), (0.06, 0.06, 0.07), (0.13, 0.17, 0.22), (0.33, 0.24, 0.15),
                            (0.85, 0.66, 0.52), (0.45, 0.46, 0.48), (0.9, 0.9, 0.88), (0.36, 0.3, 0.3)])

# asset name -> Occ3D class id (novel assets are class 0 'others')
ASSET_CLASSES = {
    'clutter': 0, 'barrier': 1, 'bicycle': 2, 'bus': 3, 'car': 4, 'construction_vehicle': 5,
    'motorcycle': 6, 'pedestrian': 7, 'traffic_cone': 8, 'trailer': 9, 'truck': 10,
    'building': 15, 'wall': 15, 'fence': 15, 'pole': 15, 'street_lamp': 15, 'sign': 15,
    'tree': 16, 'hedge': 16, 'bush': 16,
    **{name: 0 for name in NOVEL_ASSETS},
}

# per-class base colour (RGB 0-1) and LiDAR reflectivity (0-1)
CLASS_ALBEDO = np.array([
    (0.45, 0.35, 0.25), (0.75, 0.75, 0.72), (0.15, 0.35, 0.60), (0.85, 0.75, 0.20), (0.50, 0.50, 0.55),
    (0.90, 0.65, 0.10), (0.20, 0.20, 0.22), (0.35, 0.30, 0.45), (0.95, 0.40, 0.05), (0.70, 0.70, 0.70),
    (0.80, 0.80, 0.82), (0.30, 0.30, 0.32), (0.55, 0.52, 0.48), (0.68, 0.66, 0.62), (0.35, 0.50, 0.20),
    (0.65, 0.58, 0.50), (0.18, 0.42, 0.15), (0.60, 0.75, 0.95),
])
CLASS_REFLECTIVITY = np.array([0.3, 0.6, 0.4, 0.5, 0.5, 0.5, 0.4, 0.25, 0.9, 0.5,
                               0.5, 0.15, 0.2, 0.25, 0.2, 0.35, 0.3, 0.0])


@dataclass
class Asset:
    """One object's shape: `parts` (P,8) float64 rows in the object frame (see module doc),
    `albedo` (3,) RGB 0-1, `novel_id` 0 or the novel class id, `materials` (P,) uint8 material
    of each part (default BODY)."""

    name: str
    class_id: int
    parts: np.ndarray
    albedo: np.ndarray
    novel_id: int = 0
    materials: np.ndarray | None = None

    def __post_init__(self):
        if self.materials is None:
            self.materials = np.zeros(len(self.parts), dtype=np.uint8)

    @property
    def is_thing(self) -> bool:
        """Objects (classes 0-10) carry boxes and instance ids; stuff (manmade, vegetation) does not."""
        return self.class_id <= 10

    def extent(self) -> tuple[np.ndarray, np.ndarray]:
        """(lower (3,), upper (3,)) of the parts' axis-aligned bounds in the object frame, metres."""
        return parts_extent(self.parts)


def parts_extent(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P,8) part rows -> tight (lower (3,), upper (3,)) bounds in their frame."""
    lower, upper = part_bounds(parts)
    return lower.min(axis=0), upper.max(axis=0)


def part_bounds(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P,8) part rows -> each part's tight axis-aligned bounds in their frame, (lower (P,3), upper (P,3))."""
    parts = np.asarray(parts, dtype=np.float64).reshape(-1, 8)
    kind, centre, size, yaw = parts[:, 0], parts[:, 1:4], parts[:, 4:7], parts[:, 7]
    c, s = np.abs(np.cos(yaw)), np.abs(np.sin(yaw))
    half = size / 2
    half_xy = np.where(kind[:, None] == BOX,
                       np.stack([half[:, 0] * c + half[:, 1] * s, half[:, 0] * s + half[:, 1] * c], 1),
                       half[:, [0, 0]])
    half_z = np.where(kind == SPHERE, half[:, 0], half[:, 2])
    half3 = np.concatenate([half_xy, half_z[:, None]], axis=1)
    return centre - half3, centre + half3


def _box(cx, cy, cz, sx, sy, sz, yaw=0.0, mat=BODY):
    return (BOX, cx, cy, cz, sx, sy, sz, yaw, mat)


def _cyl(cx, cy, z0, diameter, height, mat=BODY):
    return (CYLINDER, cx, cy, z0 + height / 2, diameter, diameter, height, 0.0, mat)


def _sphere(cx, cy, cz, diameter, mat=BODY):
    return (SPHERE, cx, cy, cz, diameter, diameter, diameter, 0.0, mat)


def _wheels(length, width, diameter, thickness, axle_x=(0.32, -0.32)):
    return [_box(ax * length, sy * (width / 2 - thickness / 2), diameter / 2, diameter, thickness, diameter, mat=DARK)
            for ax in axle_x for sy in (1, -1)]


# -- vehicles ---------------------------------------------------------------------------------
def _car(rng):
    length, width, height = rng.uniform(4.0, 4.9), rng.uniform(1.75, 1.95), rng.uniform(1.45, 1.7)
    body_top = 0.3 + 0.5 * (height - 0.3)
    return [_box(0, 0, (0.3 + body_top) / 2, length, width, body_top - 0.3),
            _box(-0.08 * length, 0, (body_top + height) / 2, 0.55 * length, 0.9 * width, height - body_top, mat=GLASS),
            *_wheels(length, width, 0.62, 0.22)]


def _truck(rng):
    length, width, height = rng.uniform(6.0, 9.0), rng.uniform(2.3, 2.5), rng.uniform(2.8, 3.6)
    cab = 1.9
    return [_box(length / 2 - cab / 2, 0, 0.45 + (height * 0.8 - 0.45) / 2, cab, width, height * 0.8 - 0.45),
            _box(-cab / 2, 0, 0.9 + (height - 0.9) / 2, length - cab - 0.2, width, height - 0.9, mat=LIGHT),
            *_wheels(length, width, 0.9, 0.3, (0.36, -0.3))]


def _bus(rng):
    length, width, height = rng.uniform(10.0, 12.5), 2.55, rng.uniform(3.0, 3.4)
    return [_box(0, 0, 0.35 + (height - 0.35) / 2, length, width, height - 0.35),
            *_wheels(length, width, 0.95, 0.3, (0.32, -0.28))]


def _trailer(rng):
    length, width, height = rng.uniform(8.0, 12.0), 2.5, rng.uniform(3.5, 4.0)
    return [_box(0, 0, 1.1 + (height - 1.1) / 2, length, width, height - 1.1),
            *_wheels(length, width, 0.95, 0.3, (-0.3, -0.4)),
            _box(0.4 * length, 0, 0.55, 0.3, 0.3, 1.1)]


def _construction_vehicle(rng):
    length, width = rng.uniform(5.5, 7.0), rng.uniform(2.4, 2.8)
    return [_box(-0.1 * length, 0, 0.7, 0.7 * length, width, 1.0),
            _box(-0.2 * length, 0.15 * width, 1.2 + 0.9, 1.8, 0.5 * width, 1.8),
            _box(-0.3 * length, -0.2 * width, 1.6, 1.6, 0.5 * width, 0.8),
            _box(0.28 * length, 0, 1.4, 0.45 * length, 0.35, 0.35),
            _box(0.46 * length, 0, 0.5, 0.6, width * 0.8, 0.8)]


def _motorcycle(rng, rider=False):
    length = rng.uniform(1.9, 2.2)
    parts = [_box(0, 0, 0.65, 0.9 * length, 0.4, 0.55), *_wheels(length, 0.14, 0.6, 0.14, (0.35, -0.35)),
             _box(0.33 * length, 0, 1.05, 0.1, 0.75, 0.08, mat=METAL)]
    if rider:
        parts += [_box(-0.05, 0, 1.25, 0.4, 0.45, 0.6, mat=DARK), _sphere(0.02, 0, 1.7, 0.3)]
    return parts


def _bicycle(rng, rider=False):
    length = rng.uniform(1.6, 1.8)
    parts = [_box(0, 0, 0.62, 0.6 * length, 0.08, 0.4), *_wheels(length, 0.06, 0.68, 0.06, (0.3, -0.3)),
             _box(0.3 * length, 0, 1.0, 0.08, 0.6, 0.06, mat=METAL),
             _box(-0.08 * length, 0, 0.92, 0.25, 0.15, 0.08, mat=DARK)]
    if rider:
        parts += [_box(-0.05, 0, 1.3, 0.35, 0.4, 0.65), _sphere(0.05, 0, 1.75, 0.25, mat=SKIN)]
    return parts


# -- people, props and novel objects ----------------------------------------------------------
def _pedestrian(rng):
    height = rng.uniform(1.55, 1.9)
    leg = 0.47 * height
    torso = 0.34 * height
    head = 0.13 * height
    return [_box(0, 0, leg / 2, 0.28, 0.38, leg, mat=DARK), _box(0, 0, leg + torso / 2, 0.3, 0.48, torso),
            _sphere(0, 0, leg + torso + head / 2 + 0.02, head + 0.04, mat=SKIN)]


def _barrier(rng):
    return [_box(0, 0, 0.5, rng.uniform(1.8, 2.5), 0.45, 1.0)]


def _traffic_cone(rng):
    return [_box(0, 0, 0.025, 0.42, 0.42, 0.05, mat=DARK), _cyl(0, 0, 0.05, 0.22, rng.uniform(0.5, 0.7))]


def _clutter(rng):
    kind = rng.integers(3)
    if kind == 0:  # wheelie bin
        return [_box(0, 0, 0.55, 0.7, 0.6, 1.1)]
    if kind == 1:  # crate stack
        size = rng.uniform(0.7, 1.2)
        return [_box(0, 0, size / 2, size, size, size),
                _box(0.05, 0.05, size * 1.35, size * 0.7, size * 0.7, size * 0.7)]
    return [_cyl(0, 0, 0, 0.4, 0.8), _sphere(0, 0, 0.85, 0.3)]  # hydrant-like post


def _stroller(rng):
    return [_box(0, 0, 0.65, 0.8, 0.55, 0.45), _box(-0.45, 0, 0.95, 0.08, 0.5, 0.08),
            _box(0, 0, 0.2, 0.7, 0.5, 0.25), _box(0.15, 0, 0.95, 0.4, 0.5, 0.3)]


def _shopping_cart(rng):
    return [_box(0.05, 0, 0.75, 0.85, 0.55, 0.55), _box(-0.45, 0, 1.0, 0.06, 0.55, 0.06),
            _box(0, 0, 0.25, 0.8, 0.5, 0.06), _box(0, 0, 0.08, 0.7, 0.45, 0.16)]


def _dog(rng):
    scale = rng.uniform(0.8, 1.2)
    return [_box(0, 0, 0.45 * scale, 0.7 * scale, 0.25 * scale, 0.25 * scale),
            _box(0, 0, 0.17 * scale, 0.55 * scale, 0.2 * scale, 0.34 * scale),
            _sphere(0.4 * scale, 0, 0.62 * scale, 0.22 * scale)]


def _tyre(rng):
    return [_cyl(0, 0, 0, rng.uniform(0.6, 0.8), 0.25, mat=DARK)]


def _bench(rng):
    length = rng.uniform(1.5, 2.0)
    return [_box(0, 0, 0.45, length, 0.5, 0.06), _box(0, -0.22, 0.75, length, 0.06, 0.5),
            _box(0.4 * length, 0, 0.21, 0.08, 0.45, 0.42), _box(-0.4 * length, 0, 0.21, 0.08, 0.45, 0.42)]


# the novel kinds added with `novel_extra_count` (see loc_core.sim.novel): 0.3 m to 3 m, at most
# 1.2 m wide (y) so that they fit between the kerb and the sidewalk's walking lanes
def _wheelbarrow(rng):
    length = rng.uniform(1.3, 1.5)
    return [_box(0.05 * length, 0, 0.55, 0.55 * length, 0.6, 0.3), _box(0.4 * length, 0, 0.2, 0.4, 0.1, 0.4, mat=DARK),
            _box(-0.35 * length, 0.25, 0.6, 0.3 * length, 0.04, 0.04, mat=METAL),
            _box(-0.35 * length, -0.25, 0.6, 0.3 * length, 0.04, 0.04, mat=METAL),
            _box(-0.15 * length, 0.2, 0.2, 0.04, 0.04, 0.4, mat=METAL),
            _box(-0.15 * length, -0.2, 0.2, 0.04, 0.04, 0.4, mat=METAL)]


def _mailbox(rng):
    height = rng.uniform(1.0, 1.2)
    return [_cyl(0, 0, 0, 0.1, height, mat=METAL), _box(0, 0, height + 0.17, 0.5, 0.3, 0.34)]


def _statue(rng):
    plinth, figure = rng.uniform(0.8, 1.1), rng.uniform(1.4, 1.8)
    return [_box(0, 0, plinth / 2, plinth, plinth, plinth, mat=LIGHT),
            _box(0, 0, plinth + 0.3, 0.3, 0.35, 0.6),
            _box(0, 0, plinth + 0.6 + (figure - 0.9) / 2, 0.35, 0.5, figure - 0.9),
            _sphere(0, 0, plinth + figure - 0.14, 0.3)]


def _vending_machine(rng):
    height = rng.uniform(1.75, 1.95)
    return [_box(0, 0, height / 2, 0.9, 0.75, height), _box(0, 0.38, height * 0.6, 0.7, 0.02, height * 0.5, mat=LIGHT)]


def _kick_scooter(rng):
    length = rng.uniform(0.9, 1.1)
    return [_box(0, 0, 0.12, 0.7 * length, 0.15, 0.06),
            *[_box(ax * length, 0, 0.1, 0.2, 0.04, 0.2, mat=DARK) for ax in (0.42, -0.42)],
            _box(0.42 * length, 0, 0.6, 0.05, 0.05, 0.9, mat=METAL), _box(0.42 * length, 0, 1.05, 0.05, 0.45, 0.04)]


def _hay_bale(rng):
    return [_cyl(0, 0, 0, rng.uniform(1.0, 1.2), rng.uniform(1.0, 1.2))]


def _portable_toilet(rng):
    height = rng.uniform(2.1, 2.3)
    return [_box(0, 0, height / 2, 1.05, 1.05, height), _box(0, 0, height + 0.04, 1.15, 1.15, 0.08, mat=LIGHT)]


def _sofa(rng):
    length = rng.uniform(1.8, 2.2)
    return [_box(0, 0, 0.22, length, 0.85, 0.44), _box(0, -0.32, 0.7, length, 0.2, 0.5),
            _box(0.45 * length, 0.08, 0.55, 0.1 * length, 0.7, 0.2),
            _box(-0.45 * length, 0.08, 0.55, 0.1 * length, 0.7, 0.2)]


def _playground_slide(rng):
    top = rng.uniform(1.4, 1.7)
    parts = [_box(-1.2, 0, top, 0.6, 0.6, 0.06, mat=METAL)]
    parts += [_cyl(-1.2 + dx, dy, 0, 0.06, top + 0.9, mat=METAL) for dx in (-0.27, 0.27) for dy in (-0.27, 0.27)]
    for k in range(5):  # the chute, as a staircase of thin boxes descending towards +x
        z = top * (1 - (k + 0.5) / 5)
        parts.append(_box(-0.65 + 0.45 * k, 0, z, 0.45, 0.5, 0.12))
    return parts


def _horse(rng):
    scale = rng.uniform(0.9, 1.05)
    parts = [_box(0, 0, 1.25 * scale, 1.5 * scale, 0.5 * scale, 0.6 * scale),
             _box(0.85 * scale, 0, 1.65 * scale, 0.3 * scale, 0.25 * scale, 0.6 * scale),
             _box(1.05 * scale, 0, 1.9 * scale, 0.55 * scale, 0.22 * scale, 0.25 * scale)]
    parts += [_box(dx * scale, dy * scale, 0.475 * scale, 0.12 * scale, 0.12 * scale, 0.95 * scale, mat=DARK)
              for dx in (-0.6, 0.6) for dy in (-0.17, 0.17)]
    return parts


# -- stuff: manmade structures and vegetation ---------------------------------------------------
def building_parts(length, width, height, rng):
    """A building footprint `length` x `width` m, `height` m tall, with a smaller roof box."""
    parts = [_box(0, 0, height / 2, length, width, height)]
    if rng.random() < 0.5:
        parts.append(_box(0, 0, height + 1.0, 0.5 * length, 0.5 * width, 2.0, mat=ROOF))
    return parts


def wall_parts(length, height, thickness=0.3):
    return [_box(0, 0, height / 2, length, thickness, height)]


def fence_parts(length, height):
    posts = int(length // 2.5) + 2
    xs = np.linspace(-length / 2, length / 2, posts)
    return [_box(0, 0, 0.2 + (height - 0.2) / 2, length, 0.05, height - 0.2)] + \
        [_cyl(x, 0, 0, 0.1, height, mat=METAL) for x in xs]


def hedge_parts(length, height, depth=1.0):
    return [_box(0, 0, height / 2, length, depth, height)]


def _pole(rng):
    return [_cyl(0, 0, 0, 0.22, rng.uniform(5.0, 8.0), mat=METAL)]


def _street_lamp(rng):
    height = rng.uniform(6.0, 8.0)
    return [_cyl(0, 0, 0, 0.2, height, mat=METAL), _box(0.9, 0, height - 0.1, 1.8, 0.2, 0.2, mat=METAL)]


def _sign(rng):
    return [_cyl(0, 0, 0, 0.08, 2.2, mat=METAL), _box(0, 0, 2.5, 0.05, 0.7, 0.7, mat=LIGHT)]


def _tree(rng, trunk_min=1.8):
    crown = rng.uniform(2.5, 5.0)
    trunk = rng.uniform(trunk_min, trunk_min + 1.2)
    return [_cyl(0, 0, 0, rng.uniform(0.25, 0.4), trunk + 0.3 * crown, mat=BARK),
            _sphere(0, 0, trunk + crown / 2, crown)]


def _bush(rng):
    size = rng.uniform(0.8, 1.6)
    return [_sphere(0, 0, size / 2, size)]


BUILDERS = {
    'car': _car, 'truck': _truck, 'bus': _bus, 'trailer': _trailer,
    'construction_vehicle': _construction_vehicle, 'motorcycle': _motorcycle, 'bicycle': _bicycle,
    'pedestrian': _pedestrian, 'barrier': _barrier, 'traffic_cone': _traffic_cone, 'clutter': _clutter,
    'stroller': _stroller, 'shopping_cart': _shopping_cart, 'dog': _dog, 'tyre': _tyre, 'bench': _bench,
    'wheelbarrow': _wheelbarrow, 'mailbox': _mailbox, 'statue': _statue, 'vending_machine': _vending_machine,
    'kick_scooter': _kick_scooter, 'hay_bale': _hay_bale, 'portable_toilet': _portable_toilet, 'sofa': _sofa,
    'playground_slide': _playground_slide, 'horse': _horse,
    'pole': _pole, 'street_lamp': _street_lamp, 'sign': _sign, 'tree': _tree, 'bush': _bush,
}
RIDEABLE = ('motorcycle', 'bicycle')


def make_asset(name: str, rng: np.random.Generator, parts=None, rider: bool = False,
               trunk_min: float | None = None) -> Asset:
    """A randomised asset of kind `name` (see ASSET_CLASSES); `parts` overrides the shape (for
    sized structures: buildings, walls, fences, hedges); `rider` puts a rider on a (motor)cycle;
    `trunk_min` (metres) raises a tree's crown (street trees clear the traffic)."""
    if name not in ASSET_CLASSES:
        raise ValueError(f'unknown asset {name!r}; known: {sorted(ASSET_CLASSES)}')
    class_id = ASSET_CLASSES[name]
    if parts is None:
        builder = BUILDERS[name]
        if name in RIDEABLE:
            parts = builder(rng, rider)
        elif name == 'tree' and trunk_min is not None:
            parts = builder(rng, trunk_min)
        else:
            parts = builder(rng)
    albedo = CLASS_ALBEDO[class_id].copy()
    if name in ('car', 'truck', 'bus', 'motorcycle', 'bicycle', 'building', 'clutter', *NOVEL_ASSETS):
        albedo = np.clip(albedo * rng.uniform(0.5, 1.4, 3), 0.05, 0.95)
    elif name == 'pedestrian':
        albedo = np.clip(rng.uniform(0.1, 0.8, 3), 0.05, 0.95)
    else:
        albedo = np.clip(albedo * rng.uniform(0.85, 1.15), 0.05, 0.95)
    rows = np.asarray(parts, dtype=np.float64).reshape(len(parts), -1)
    materials = rows[:, 8].astype(np.uint8) if rows.shape[1] > 8 else None
    return Asset(name, class_id, rows[:, :8].copy(), albedo, NOVEL_ASSETS.get(name, 0), materials)
