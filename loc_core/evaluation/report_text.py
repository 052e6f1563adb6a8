"""`loc-eval`'s text report (without --json): per prompt set the figures inside mask_camera and
inside mask_lidar (mIoU, geometry IoU, precision, recall, occupied voxels per frame against the
labels'), the class IoUs present, points, open set, rays, bootstrap; then the raw-sweep baseline's
lines beside them (raw_sweep). Percent figures with two decimals; n/a where not measurable."""
from __future__ import annotations

MASK_NAMES = ('mask_camera', 'mask_lidar')


def print_report(report: dict, sets) -> None:
    for name in sets:
        print_prompt_set(name, report[name])
    if 'raw_sweep' in report:
        print_geometry('raw sweep', report['raw_sweep'])
        points = report['raw_sweep'].get('points')
        if points:
            print(f'{"raw sweep":10s} points      geometry recall {_pct(points["geometry_recall"])}  '
                  f'({points["points"]} points, {points["frames"]} frames)')
    if not sets:
        o = report['open_set']
        print(f'open set   AUROC {o["auroc"]}  FPR@95 {o["fpr95"]}  ({o["novel_voxels"]} novel / {o["known_voxels"]} known voxels)')
    if 'homogenisation' in report:
        h = report['homogenisation']
        print(f'features   inter-class cosine {h["inter_class_cosine"]}  intra-class cosine {h["intra_class_cosine"]}')


def print_geometry(label: str, r: dict) -> bool:
    """The class-free line of each mask (r: mask_camera's figures at the top level, 'mask_lidar'
    nested); mIoU first where `r` has one. False when no mask has a counted frame."""
    counted = False
    for mask, m in ((MASK_NAMES[0], r), (MASK_NAMES[1], r['mask_lidar'])):
        if not m['frames']:
            why = (f'the mask is empty on all {m["empty_mask_frames"]} labelled frames' if m['empty_mask_frames']
                   else 'no frame has dense labels')
            print(f'{label:10s} {mask:11s} no figures ({why})')
            continue
        counted = True
        miou = f'mIoU {_pct(m["miou"])}  ' if 'miou' in m else ''
        print(f'{label:10s} {mask:11s} {miou}geometry IoU {_pct(m["geometry_iou"])}  precision '
              f'{_pct(m["geometry_precision"])}  recall {_pct(m["geometry_recall"])}  occupied/frame '
              f'{_count(m["occupied_predicted_per_frame"])} (labels {_count(m["occupied_labels_per_frame"])})  '
              f'({m["frames"]} frames, {m["empty_mask_frames"]} with an empty mask)')
    return counted


def print_prompt_set(name: str, r: dict) -> None:
    """One prompt set's lines: inside mask_camera, inside mask_lidar (with the class IoUs present),
    and the points when scored."""
    print_geometry(name, r)
    for mask, m in ((MASK_NAMES[0], r), (MASK_NAMES[1], r['mask_lidar'])):
        if m['frames']:
            print(f'{name:10s} {mask:11s} class IoU  {_classes(m["per_class_iou"])}')
    if 'points' in r:
        p = r['points']
        print(f'{name:10s} points      mIoU {_pct(p["miou"])}  geometry recall {_pct(p["geometry_recall"])}  '
              f'({p["points"]} points, {p["points_outside_grid"]} labelled points outside the grid, '
              f'{p["frames"]} frames)')
        print(f'{name:10s} points      class IoU  {_classes(p["per_class_iou"])}')
    if 'open_set' in r:
        o = r['open_set']
        print(f'{name:10s} open set    AUROC {_fraction(o["auroc"])}  FPR@95 {_fraction(o["fpr95"])}  '
              f'({o["novel_voxels"]} novel / {o["known_voxels"]} known voxels)')
    if 'rayiou' in r:
        y = r['rayiou']
        print(f'{name:10s} rays        RayIoU {_pct(y["rayiou"])}  @1m {_pct(y["rayiou_1m"])}  '
              f'@2m {_pct(y["rayiou_2m"])}  @4m {_pct(y["rayiou_4m"])}  ({y["rays"]} rays, {y["frames"]} frames, '
              f'origins: {y.get("origins", "lidar")})')
    if 'bootstrap' in r:
        b = r['bootstrap']
        print(f'{name:10s} bootstrap   mIoU {_interval(b["miou"], _pct)}  AUROC {_interval(b["auroc"], _fraction)}  '
              f'FPR@95 {_interval(b["fpr95"], _fraction)}  (median [{b["level"]:.0%} interval], '
              f'{b["groups"]} scenes, {b["resamples"]} resamples)')


def _classes(per_class: dict) -> str:
    """'car 12.3  vegetation 45.6 ...' for the classes with a figure (present in labels or prediction)."""
    shown = [f'{n} {v:.1f}' for n, v in per_class.items() if v is not None]
    return '  '.join(shown) if shown else 'none present'


def _count(value) -> str:
    return 'n/a' if value is None else f'{value:.0f}'


def _fraction(value) -> str:
    return '  n/a' if value is None else f'{value:.3f}'


def _interval(values: dict, fmt) -> str:
    return f'{fmt(values["median"]).strip()} [{fmt(values["low"]).strip()}, {fmt(values["high"]).strip()}]'


def _pct(value) -> str:
    return '   n/a' if value is None else f'{value:6.2f}'
