"""Triangle meshes of parts (boxes, vertical cylinders, spheres), vectorised per kind. Every
mesh is inscribed in its exact solid, so a ray hit lies inside the part the ground truth fills."""
from __future__ import annotations

import numpy as np

from loc_core.sim.assets import BOX, CYLINDER, SPHERE

CYLINDER_SIDES = 12
SPHERE_RINGS, SPHERE_SEGMENTS = 6, 10


def _box_template():
    verts = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
    quads = [(0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3)]
    tris = [t for a, b, c, d in quads for t in ((a, b, c), (a, c, d))]
    return verts, np.array(tris)


def _cylinder_template():
    angle = np.arange(CYLINDER_SIDES) * 2 * np.pi / CYLINDER_SIDES
    ring = np.stack([0.5 * np.cos(angle), 0.5 * np.sin(angle)], axis=1)
    n = CYLINDER_SIDES
    verts = np.concatenate([np.c_[ring, np.full(n, -0.5)], np.c_[ring, np.full(n, 0.5)],
                            [[0, 0, -0.5], [0, 0, 0.5]]])
    tris = []
    for i in range(n):
        j = (i + 1) % n
        tris += [(i, j, n + j), (i, n + j, n + i), (2 * n, j, i), (2 * n + 1, n + i, n + j)]
    return verts, np.array(tris)


def _sphere_template():
    verts = [[0, 0, -0.5], [0, 0, 0.5]]
    for r in range(1, SPHERE_RINGS):
        polar = np.pi * r / SPHERE_RINGS
        for s in range(SPHERE_SEGMENTS):
            az = 2 * np.pi * s / SPHERE_SEGMENTS
            verts.append([0.5 * np.sin(polar) * np.cos(az), 0.5 * np.sin(polar) * np.sin(az), -0.5 * np.cos(polar)])
    tris = []
    ring = lambda r, s: 2 + (r - 1) * SPHERE_SEGMENTS + s % SPHERE_SEGMENTS  # noqa: E731
    for s in range(SPHERE_SEGMENTS):
        tris.append((0, ring(1, s + 1), ring(1, s)))
        tris.append((1, ring(SPHERE_RINGS - 1, s), ring(SPHERE_RINGS - 1, s + 1)))
        for r in range(1, SPHERE_RINGS - 1):
            tris += [(ring(r, s), ring(r, s + 1), ring(r + 1, s + 1)), (ring(r, s), ring(r + 1, s + 1), ring(r + 1, s))]
    return np.array(verts, dtype=np.float64), np.array(tris)


TEMPLATES = {BOX: _box_template(), CYLINDER: _cylinder_template(), SPHERE: _sphere_template()}


def triangulate(parts: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(P,8) part rows in some frame -> (vertices (V,3) float32, triangles (T,3) uint32,
    triangle_part (T,) int64 index of the part each triangle belongs to)."""
    all_verts, all_tris, all_owner, offset = [], [], [], 0
    for kind, (template_v, template_t) in TEMPLATES.items():
        rows = np.flatnonzero(parts[:, 0] == kind)
        if len(rows) == 0:
            continue
        sel = parts[rows]
        scale = sel[:, 4:7].copy()
        if kind == SPHERE:
            scale[:, 1] = scale[:, 2] = scale[:, 0]
        local = template_v[None] * scale[:, None, :]
        c, s = np.cos(sel[:, 7]), np.sin(sel[:, 7])
        x = local[..., 0] * c[:, None] - local[..., 1] * s[:, None]
        y = local[..., 0] * s[:, None] + local[..., 1] * c[:, None]
        verts = np.stack([x, y, local[..., 2]], axis=-1) + sel[:, None, 1:4]
        nv = len(template_v)
        tris = template_t[None] + (offset + np.arange(len(rows)) * nv)[:, None, None]
        all_verts.append(verts.reshape(-1, 3))
        all_tris.append(tris.reshape(-1, 3))
        all_owner.append(np.repeat(rows, len(template_t)))
        offset += len(rows) * nv
    if not all_verts:
        return np.zeros((0, 3), np.float32), np.zeros((0, 3), np.uint32), np.zeros(0, np.int64)
    return (np.concatenate(all_verts).astype(np.float32), np.concatenate(all_tris).astype(np.uint32),
            np.concatenate(all_owner))
