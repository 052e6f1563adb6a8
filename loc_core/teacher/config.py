"""`TeacherConfig`: the settings of point painting by a 2D teacher, typed and validated."""
from __future__ import annotations

from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class TeacherConfig:
    """How LiDAR points take classes from a 2D segmenter (see `painting.py`).

    `window`: a camera image of frame f paints the points measured by frames f-window..f+window
    (None: every frame of the sequence). `max_depth` metres: farther points are not painted (the
    teacher's small far pixels are unreliable). Depth test (`depth_test` on/off): per camera a
    buffer at 1/`depth_stride` of the image resolution holds the nearest projected point, each
    point splatted over the pixels a disc of `point_footprint` metres covers (at most
    `max_splat_radius` buffer cells); a point takes a vote only when its depth is within
    `depth_tolerance` + `depth_tolerance_relative` * depth of that buffer. `min_votes` views at
    least, and a mean probability of the winning class at least `min_confidence`, or the point
    stays 255. `terrain_max_height` metres: a point painted terrain higher than that above the
    local ground becomes vegetation (`rules.py`; None = off). `overwrite`: also paint points a
    source labelled (human labels are kept by default). `threads`: onnxruntime intra-op threads
    (0 = its default)."""

    window: int | None = 2
    max_depth: float = 60.0
    depth_test: bool = True
    depth_stride: int = 4
    point_footprint: float = 0.2
    max_splat_radius: int = 4
    depth_tolerance: float = 0.5
    depth_tolerance_relative: float = 0.10
    min_votes: int = 1
    min_confidence: float = 0.5
    terrain_max_height: float | None = 0.4
    overwrite: bool = False
    threads: int = 2

    def __post_init__(self):
        checks = {
            'window': self.window is None or self.window >= 0,
            'max_depth': self.max_depth > 0,
            'depth_stride': self.depth_stride >= 1,
            'point_footprint': self.point_footprint >= 0,
            'max_splat_radius': self.max_splat_radius >= 0,
            'depth_tolerance': self.depth_tolerance >= 0,
            'depth_tolerance_relative': self.depth_tolerance_relative >= 0,
            'min_votes': self.min_votes >= 1,
            'min_confidence': 0 <= self.min_confidence <= 1,
            'terrain_max_height': self.terrain_max_height is None or self.terrain_max_height > 0,
            'threads': self.threads >= 0,
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            raise ValueError('invalid TeacherConfig: ' + ', '.join(f'{n}={getattr(self, n)!r}' for n in bad))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> 'TeacherConfig':
        """Settings by name (e.g. from `--set teacher.NAME=VALUE`); an unknown name is an error."""
        unknown = sorted(set(values) - {f.name for f in fields(cls)})
        if unknown:
            raise ValueError(f'unknown TeacherConfig settings {unknown}; known: {[f.name for f in fields(cls)]}')
        return cls(**values)
