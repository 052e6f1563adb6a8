"""Scoring and drawing what the demo recorded: Occ3D mIoU / geometry IoU against the synthetic
ground truth (per prompt set), unknown-score AUROC for novel objects, the node's latency and drops,
and PNG snapshots before and after the prompt change."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from loc_core.data.occ3d_io import NOVEL_ID_MIN, atomic_write_bytes
from loc_core.data.vocabulary import FREE_ID, OCC3D_COLORS, UNKNOWN_COLOR
from loc_core.evaluation.metrics import OccupancyMetrics
from loc_core.evaluation.openset import auroc, fpr_at_tpr
from loc_core.geometry.voxel_grid import VoxelGrid
from loc_core.inference.result import FREE_LABEL, UNKNOWN_LABEL


def grid_of(legend: dict) -> VoxelGrid:
    geometry = legend['grid']
    return VoxelGrid(tuple(geometry['point_range']), geometry['voxel_size'])


def dense(output, grid: VoxelGrid) -> tuple[np.ndarray, np.ndarray]:
    """An output's voxel records -> ((X,Y,Z) uint8 labels with FREE_LABEL, (X,Y,Z) float32 scores)."""
    labels = np.full(grid.shape, FREE_LABEL, dtype=np.uint8)
    scores = np.zeros(grid.shape, dtype=np.float32)
    xyz = np.stack([output.voxels['x'], output.voxels['y'], output.voxels['z']], axis=1)
    keep = grid.in_range(xyz)
    idx = grid.point_to_index(xyz[keep])
    labels[tuple(idx.T)] = output.voxels['label'][keep]
    scores[tuple(idx.T)] = output.voxels['score'][keep]
    return labels, scores


def occ3d_lut(class_ids) -> np.ndarray:
    """(256,) uint8: output label -> Occ3D id (unknown and non-Occ3D prompts -> 0 'others', free -> 17)."""
    lut = np.zeros(256, dtype=np.uint8)
    ids = np.asarray(class_ids, dtype=np.int64)
    lut[:len(ids)] = np.where(ids >= 0, ids, 0)
    lut[FREE_LABEL] = FREE_ID
    return lut


def color_lut(legend: dict) -> np.ndarray:
    lut = np.zeros((256, 3), dtype=np.uint8)
    for entry in legend['classes']:
        lut[entry['label']] = entry['color_rgb']
    lut[UNKNOWN_LABEL] = UNKNOWN_COLOR
    lut[FREE_LABEL] = (255, 255, 255)
    return lut


class PhaseScore:
    """Accumulates the metrics of one prompt set over the frames that used it."""

    def __init__(self, prompts, class_ids, novel_prompts: dict):
        self.prompts, self.class_ids = list(prompts), list(class_ids)
        self.novel_prompts = novel_prompts  # novel id -> prompt index naming it, where a prompt does
        self.metrics = OccupancyMetrics()
        self.unknown_scores, self.is_novel = [], []
        self.novel_named = self.novel_seen = 0
        self.frames = 0

    def add(self, labels, scores, truth) -> None:
        """One output of this prompt set; `truth` Occ3DLabels, or None where the data has none."""
        self.frames += 1
        if truth is None:
            return
        self.metrics.add(occ3d_lut(self.class_ids)[labels], truth.semantics, truth.mask_camera)
        if truth.semantics_open is None:
            return
        keep = truth.mask_camera.astype(bool) & (truth.semantics != FREE_ID) & (truth.semantics != 255) \
            & (labels != FREE_LABEL)
        novel = truth.semantics_open[keep] >= NOVEL_ID_MIN
        self.unknown_scores.append(1.0 - scores[keep])
        self.is_novel.append(novel)
        for novel_id, prompt_index in self.novel_prompts.items():
            here = keep & (truth.semantics_open == novel_id)
            self.novel_seen += int(here.sum())
            self.novel_named += int((labels[here] == prompt_index).sum())

    def summary(self) -> dict:
        out = {'frames': self.frames, 'prompts': self.prompts}
        if self.metrics.frames:
            out['miou'] = round(self.metrics.miou(), 2)
            out['geometry_iou'] = round(self.metrics.geometry_iou(), 2)
        if self.unknown_scores:
            s, v = np.concatenate(self.unknown_scores), np.concatenate(self.is_novel)
            if v.any() and (~v).any():
                out['unknown_auroc'] = round(float(auroc(s, v)), 4)
                out['unknown_fpr95'] = round(float(fpr_at_tpr(s, v, 0.95)), 4)
            out['novel_voxels'] = int(v.sum())
        if self.novel_prompts and self.novel_seen:
            out['novel_voxels_named_by_their_prompt'] = round(self.novel_named / self.novel_seen, 4)
        return out


def write_snapshots(out: Path, tag: str, frame, labels, legend: dict, grid: VoxelGrid, truth=None) -> list[str]:
    """PNG pictures of one output: CAM_FRONT overlay, BEV (prediction, and ground truth when known),
    3D voxels. Returns the file names written."""
    from loc_core.viz.snapshots import bev_image, camera_overlay, overview, save_png, voxel_view_3d

    lut = color_lut(legend)
    camera = frame.camera('CAM_FRONT') if 'CAM_FRONT' in frame.camera_names else frame.cameras[0]
    names = {f'{tag}_camera.png': camera_overlay(camera, labels, lut, FREE_LABEL, grid),
             f'{tag}_bev.png': bev_image(labels, lut, FREE_LABEL),
             f'{tag}_voxels3d.png': voxel_view_3d(labels, lut, FREE_LABEL, grid)}
    if truth is not None:
        gt_lut = np.zeros((256, 3), dtype=np.uint8)
        gt_lut[:len(OCC3D_COLORS)] = OCC3D_COLORS
        names[f'{tag}_bev_ground_truth.png'] = bev_image(truth.semantics, gt_lut, FREE_ID)
    panels = [('BEV, prediction', names[f'{tag}_bev.png']), ('3D voxels, prediction', names[f'{tag}_voxels3d.png'])]
    if truth is not None:
        panels.insert(1, ('BEV, ground truth', names[f'{tag}_bev_ground_truth.png']))
    prompts = ', '.join(c['prompt'] for c in legend['classes'])
    names[f'{tag}_overview.png'] = overview(panels, (f'{camera.name} {tag} the prompt change; prompts: {prompts}',
                                                     names[f'{tag}_camera.png']))
    for name, image in names.items():
        save_png(out / name, image)
    (out / f'{tag}_legend.json').write_text(json.dumps(legend, indent=1))
    return sorted(names) + [f'{tag}_legend.json']


def write_summary(out: Path, summary: dict) -> None:
    atomic_write_bytes(out / 'summary.json', json.dumps(summary, indent=2).encode())
    lines = [f"# LOC demo: {summary['data']}", '']
    for phase in ('before', 'after'):
        s = summary.get(phase, {})
        lines.append(f"## {phase} the prompt change ({s.get('frames', 0)} frames)")
        lines.append('')
        lines.append('prompts: ' + ', '.join(s.get('prompts', [])))
        for key in ('miou', 'geometry_iou', 'unknown_auroc', 'unknown_fpr95', 'novel_voxels_named_by_their_prompt'):
            if key in s:
                lines.append(f'- {key}: {s[key]}')
        lines.append('')
    lines.append('## node')
    lines.append('')
    for key, value in summary['node'].items():
        lines.append(f'- {key}: {value}')
    atomic_write_bytes(out / 'summary.md', ('\n'.join(lines) + '\n').encode())
