"""`PoseTrack`: a time series of rigid poses (e.g. world <- base_link from /tf) queried at any
stamp: exact stamps give back the stored pose unchanged, stamps in between are interpolated
(translation linearly, rotation by slerp), stamps outside the track within a tolerance take the
nearest end."""
from __future__ import annotations

import numpy as np

from loc_core.geometry.transforms import invert, make_transform, split_transform


class PoseLookupError(LookupError):
    """No pose known at (or near enough to) the requested stamp."""


def _slerp(q0: np.ndarray, q1: np.ndarray, fraction: float) -> np.ndarray:
    """Shortest-path spherical interpolation of unit quaternions (w,x,y,z)."""
    dot = float(np.dot(q0, q1))
    if dot < 0:
        q1, dot = -q1, -dot
    if dot > 0.9995:  # nearly equal: linear is exact enough and stable
        q = q0 + fraction * (q1 - q0)
        return q / np.linalg.norm(q)
    theta = np.arccos(dot)
    return (np.sin((1 - fraction) * theta) * q0 + np.sin(fraction * theta) * q1) / np.sin(theta)


class PoseTrack:
    """Poses (4,4) float64 child_to_parent keyed by integer nanosecond stamps."""

    def __init__(self, extrapolation_ns: int = 100_000_000):
        self.extrapolation_ns = extrapolation_ns
        self._poses: dict[int, np.ndarray] = {}
        self._stamps: np.ndarray | None = None

    def add(self, stamp_ns: int, child_to_parent: np.ndarray):
        self._poses[int(stamp_ns)] = np.asarray(child_to_parent, dtype=np.float64)
        self._stamps = None

    def __len__(self) -> int:
        return len(self._poses)

    def at(self, stamp_ns: int) -> np.ndarray:
        """The (4,4) pose at `stamp_ns`; PoseLookupError when the track is empty or the stamp is
        further than `extrapolation_ns` outside it."""
        stamp_ns = int(stamp_ns)
        if stamp_ns in self._poses:
            return self._poses[stamp_ns]
        if not self._poses:
            raise PoseLookupError('no poses recorded')
        if self._stamps is None:
            self._stamps = np.array(sorted(self._poses), dtype=np.int64)
        stamps = self._stamps
        i = int(np.searchsorted(stamps, stamp_ns))
        if i == 0 or i == len(stamps):
            nearest = int(stamps[0] if i == 0 else stamps[-1])
            if abs(nearest - stamp_ns) > self.extrapolation_ns:
                raise PoseLookupError(f'stamp {stamp_ns} lies {abs(nearest - stamp_ns) / 1e9:.3f} s outside the '
                                      f'poses ({stamps[0]} .. {stamps[-1]})')
            return self._poses[nearest]
        before, after = int(stamps[i - 1]), int(stamps[i])
        fraction = (stamp_ns - before) / (after - before)
        t0, q0 = split_transform(self._poses[before])
        t1, q1 = split_transform(self._poses[after])
        return make_transform(t0 + fraction * (t1 - t0), _slerp(q0, q1, fraction))


class TransformTree:
    """A small tf2 buffer: a tf tree from /tf (time-varying edges, one PoseTrack each) and
    /tf_static (constant edges). `to_root(frame, stamp)` composes frame -> parent -> ... -> root,
    so a user's map -> odom -> base_link chain gives base_link's pose in map; `lookup(source,
    target, stamp)` gives source -> target through their common ancestor (e.g. lidar -> base_link
    -> camera). An edge whose child already has another parent is ignored (tf allows one parent)
    and counted in `conflicts`. Not thread-safe: guard it with a lock when threads share it."""

    def __init__(self):
        self._edges: dict[str, tuple[str, PoseTrack | np.ndarray]] = {}  # child -> (parent, track | matrix)
        self.conflicts = 0

    def _parent_ok(self, parent: str, child: str) -> bool:
        known = self._edges.get(child)
        if known is not None and known[0] != parent:
            self.conflicts += 1
            return False
        return True

    def add(self, parent: str, child: str, stamp_ns: int, child_to_parent: np.ndarray):
        if self._parent_ok(parent, child):
            edge = self._edges.setdefault(child, (parent, PoseTrack()))[1]
            if isinstance(edge, PoseTrack):
                edge.add(stamp_ns, child_to_parent)

    def add_static(self, parent: str, child: str, child_to_parent: np.ndarray):
        if self._parent_ok(parent, child):
            self._edges[child] = (parent, np.asarray(child_to_parent, dtype=np.float64))

    def __contains__(self, frame: str) -> bool:
        return frame in self._edges

    def chain(self, frame: str) -> list[str]:
        """[frame, parent, ..., root]; LookupError on a cycle."""
        out = [frame]
        while out[-1] in self._edges:
            out.append(self._edges[out[-1]][0])
            if out[-1] in out[:-1]:
                raise PoseLookupError(f'tf cycle through {out}')
        return out

    def frames(self) -> set[str]:
        """Every frame named by an edge (children and parents)."""
        return set(self._edges) | {parent for parent, _ in self._edges.values()}

    def lookup(self, source: str, target: str, stamp_ns: int = 0) -> np.ndarray:
        """(4,4) float64 source_to_target (a point in `source` -> the same point in `target`) at
        `stamp_ns` (ignored by static edges). PoseLookupError naming both frames when they are
        not connected, or an edge on the way has no pose at that stamp."""
        source_chain, target_chain = self.chain(source), self.chain(target)
        common = next((frame for frame in source_chain if frame in target_chain), None)
        if common is None:
            known = sorted(self.frames())
            raise PoseLookupError(f'no transform from {source!r} to {target!r}: they are not connected '
                                  f'({source!r} -> {source_chain[-1]!r}, {target!r} -> {target_chain[-1]!r}; '
                                  f'known frames {known})')
        return invert(self._up_to(target, common, stamp_ns)) @ self._up_to(source, common, stamp_ns)

    def _up_to(self, frame: str, ancestor: str, stamp_ns: int) -> np.ndarray:
        """(4,4) frame -> ancestor (ancestor on frame's chain)."""
        result = np.eye(4)
        for child in self.chain(frame):
            if child == ancestor:
                return result
            edge = self._edges[child][1]
            result = (edge.at(stamp_ns) if isinstance(edge, PoseTrack) else edge) @ result
        return result

    def to_root(self, frame: str, stamp_ns: int) -> np.ndarray:
        """(4,4) frame -> root at `stamp_ns` (PoseLookupError when an edge has no pose then)."""
        return self._up_to(frame, self.chain(frame)[-1], stamp_ns)
