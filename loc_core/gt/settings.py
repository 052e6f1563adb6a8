"""`loc-gt` settings from its arguments: the DenseLabelConfig (--config, --set) and the optional 2D teacher
(--teacher, --teacher-classes, --set teacher.NAME=VALUE)."""
from __future__ import annotations

import json
from pathlib import Path

from loc_core.gt.config import KITTI_EGO_BOX, DenseLabelConfig


def split_settings(args) -> tuple[dict, dict]:
    """(DenseLabelConfig values, TeacherConfig values) from --config and --set."""
    values = {}
    if args.config:
        values.update(json.loads(Path(args.config).read_text()))
    teacher = dict(values.pop('teacher', None) or {})
    for item in args.set:
        name, sep, raw = item.partition('=')
        if not sep:
            raise ValueError(f'--set needs NAME=VALUE, got {item!r}')
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        name = name.strip()
        if name.startswith('teacher.'):
            teacher[name[len('teacher.'):]] = value
        else:
            values[name] = value
    return values, teacher


def load_config(args) -> DenseLabelConfig:
    values = split_settings(args)[0]
    if getattr(args, 'semantickitti', None) and 'ego_box' not in values:
        values['ego_box'] = KITTI_EGO_BOX
    return DenseLabelConfig.from_dict(values)


def load_teacher(args):
    """(PointPainter, its record for the settings file) of --teacher, or (None, None) without it."""
    teacher_values = split_settings(args)[1]
    if not getattr(args, 'teacher', None):
        if teacher_values or getattr(args, 'teacher_classes', None):
            raise ValueError('teacher settings (--set teacher.*, --teacher-classes) need --teacher MODEL.onnx')
        return None, None
    from loc_core.teacher.classes import load_class_table
    from loc_core.teacher.config import TeacherConfig
    from loc_core.teacher.painting import PointPainter
    from loc_core.teacher.segmenter import OnnxSegmenter, resolve_model_path

    config = TeacherConfig.from_dict(teacher_values)
    table = load_class_table(args.teacher_classes) if args.teacher_classes else None
    segmenter = OnnxSegmenter(resolve_model_path(args.teacher), table, threads=config.threads)
    settings = {k: v for k, v in config.to_dict().items() if k != 'threads'}  # threads change no label
    return PointPainter(segmenter, config), {**segmenter.identity(), 'settings': settings}
