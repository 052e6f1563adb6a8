"""Export of the prompt-independent part of a fusion network to ONNX (two graphs in one folder).

* `dense.onnx`: images (C,3,H,W) float32 RGB in [0,1] at the model's image size, `lidar`
  (X,Y,Z+1[+Z]) float32 `lidar_bev` and, with `free_space_input`, the observed-free channels, `column_index` (X*Y*K,) int64 column-sample feature indices
  (-1 = none; `FusionNet.column_sampling`) -> `occupancy_logits` (X,Y,Z) float32, `language_columns`
  (X*Y,H) float32 (the language head's BEV map, channels last) and `camera_table` (1+C*h*w,H)
  float32 (its camera map, cells in `feature_indices` order after a FIRST row of zeros, so index
  -1 + 1 reads zeros without the graph knowing the camera count). The camera count C is a dynamic
  axis; the grid and the image size are fixed by the checkpoint.
* `voxels.onnx`: `language_columns`, `camera_table`, for M chosen voxels (M dynamic) their `column`
  (M,) int64 (i*Y+j), `camera_index` (M,) int64 (-1 = none) and `layer` (M,) int64 (k) ->
  `hidden` (M,L) float32 language hidden vectors and `norm` (M,) float32 |W h|.

What depends on the prompts (h . W^T t, the best prompt, the match score) stays in PyTorch
(`LocPredictor`), so prompts change at run time without a new export. `export.json` beside the
graphs records the network digest (`network_digest`), grid, image size and opset.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path

import torch
from torch import nn

from loc_core.models.fusion import FusionNet

FORMAT = 'loc-onnx/2'  # changes with the graphs' inputs, outputs or structure
OPSET = 17
DENSE_FILE, VOXEL_FILE, META_FILE = 'dense.onnx', 'voxels.onnx', 'export.json'


class DenseGraph(nn.Module):
    """The per-frame dense part of a `FusionNet` (see the module docstring)."""

    def __init__(self, model: FusionNet):
        super().__init__()
        self.model = model

    def forward(self, images, lidar, column_index):
        model = self.model
        features = model.image_encoder(images)
        nx, ny, channels = lidar.shape
        cams = zero_first_table(features).index_select(0, column_index + 1).view(nx * ny, -1)
        # the trunk's 1x1 stem convolution as two products on the channels-last inputs: no
        # concatenation and one transpose of its (X*Y,C) output instead of two of the wider inputs.
        # Trunk input order: lidar_bev (Z+1), camera features, observed free space (the rest of `lidar`)
        stem_conv, stem_norm, stem_relu = model.trunk.stem
        weight = stem_conv.weight[:, :, 0, 0]  # (C, Cin), no bias
        first = model.grid.shape[2] + 1
        camera_end = first + cams.shape[1]
        lidar_weight = torch.cat([weight[:, :first], weight[:, camera_end:]], dim=1)
        mixed = lidar.reshape(nx * ny, channels) @ lidar_weight.T + cams @ weight[:, first:camera_end].T
        skip = stem_relu(stem_norm(mixed.T.reshape(1, -1, nx, ny)))
        bev = model.trunk.after_stem(skip)
        head = model.language_head
        columns = head.bev_map(bev)[0]
        columns = columns.permute(1, 2, 0).reshape(-1, columns.shape[0])
        return model.occupancy_head(bev)[0], columns, zero_first_table(head.camera_map(features))


class VoxelGraph(nn.Module):
    """The per-voxel, prompt-independent part of the language head (see the module docstring)."""

    def __init__(self, model: FusionNet):
        super().__init__()
        self.head = model.language_head
        weight = self.head.projection.weight.detach()
        self.register_buffer('gram', weight.T @ weight)  # (L,L) W^T W

    def forward(self, language_columns, camera_table, column, camera_index, layer):
        hidden = self.head.hidden(language_columns.index_select(0, column),
                                  camera_table.index_select(0, camera_index + 1), layer)
        norm = ((hidden @ self.gram) * hidden).sum(-1).clamp(min=1e-12).sqrt()
        return hidden, norm


def zero_first_table(feature_maps: torch.Tensor) -> torch.Tensor:
    """(C,F,h,w) -> (1+C*h*w,F): a row of zeros, then the cells in `feature_indices` order."""
    num_feat = feature_maps.shape[1]
    flat = feature_maps.permute(0, 2, 3, 1).reshape(-1, num_feat)
    return torch.cat([flat.new_zeros((1, num_feat)), flat])


def network_digest(model: nn.Module) -> str:
    """SHA-256 of the architecture, grid and every weight: names the export of exactly this network."""
    digest = hashlib.sha256()
    digest.update(json.dumps(model.arch, sort_keys=True).encode())
    digest.update(repr((model.grid.shape, model.grid.point_range, model.grid.voxel_size)).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().float().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def example_inputs(model: FusionNet, num_cameras: int = 6) -> tuple:
    """Zero-valued dense inputs of the right shapes and dtypes for tracing."""
    width, height = model.image_size
    nx, ny, nz = model.grid.shape
    samples = nx * ny * len(model.arch['column_heights'])
    free = nz if model.arch.get('free_space_input') else 0
    return (torch.zeros(num_cameras, 3, height, width), torch.zeros(nx, ny, nz + 1 + free),
            torch.full((samples,), -1, dtype=torch.int64))


def export_onnx(model, out_dir) -> Path:
    """Write `dense.onnx`, `voxels.onnx` and `export.json` of a `FusionNet` into `out_dir`
    (created; written to a temporary folder beside it and renamed, so a reader never sees half an
    export). Returns `out_dir`. Raises ValueError for other backbones."""
    if not isinstance(model, FusionNet):
        raise ValueError(f'ONNX export supports the fusion backbone only, not {type(model).__name__}')
    out_dir = Path(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval() if next(model.parameters()).device.type != 'cpu' else model.eval()
    work = Path(tempfile.mkdtemp(dir=out_dir.parent, prefix=f'.{out_dir.name}.'))
    try:
        with torch.no_grad():
            _export(DenseGraph(model), example_inputs(model), work / DENSE_FILE,
                    ['images', 'lidar', 'column_index'], ['occupancy_logits', 'language_columns', 'camera_table'],
                    {'images': {0: 'cameras'}, 'camera_table': {0: 'camera_cells'}})
            hidden = model.arch['language_hidden']
            nx, ny, _ = model.grid.shape
            count = 4
            voxel_inputs = (torch.zeros(nx * ny, hidden), torch.zeros(7, hidden), torch.zeros(count, dtype=torch.int64),
                            torch.full((count,), -1, dtype=torch.int64), torch.zeros(count, dtype=torch.int64))
            _export(VoxelGraph(model), voxel_inputs, work / VOXEL_FILE,
                    ['language_columns', 'camera_table', 'column', 'camera_index', 'layer'], ['hidden', 'norm'],
                    {'camera_table': {0: 'camera_cells'}, 'column': {0: 'voxels'}, 'camera_index': {0: 'voxels'},
                     'layer': {0: 'voxels'}, 'hidden': {0: 'voxels'}, 'norm': {0: 'voxels'}})
        meta = {'format': FORMAT, 'network_digest': network_digest(model), 'opset': OPSET,
                'grid_shape': list(model.grid.shape), 'image_size': list(model.image_size),
                'torch': torch.__version__}
        (work / META_FILE).write_text(json.dumps(meta, indent=2, sort_keys=True))
        os.chmod(work, 0o755)
        if out_dir.exists():
            shutil.rmtree(out_dir)
        os.replace(work, out_dir)
    finally:
        if work.exists():
            shutil.rmtree(work)
    return out_dir


def _export(module, inputs, path, input_names, output_names, dynamic_axes) -> None:
    """TorchScript-based exporter (needs only the `onnx` package): the graphs have no control flow."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter('ignore', DeprecationWarning)
        warnings.simplefilter('ignore', torch.jit.TracerWarning)
        torch.onnx.export(module, inputs, str(path), dynamo=False, opset_version=OPSET, input_names=input_names,
                          output_names=output_names, dynamic_axes=dynamic_axes, do_constant_folding=True)


def read_export_meta(folder) -> dict:
    """`export.json` of an export folder; ValueError when missing or foreign."""
    path = Path(folder) / META_FILE
    try:
        meta = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ValueError(f'{folder} is not a LOC ONNX export (cannot read {META_FILE}: {exc})') from exc
    if meta.get('format') != FORMAT:
        raise ValueError(f'{folder} is not a LOC ONNX export (format {meta.get("format")!r}, expected {FORMAT!r})')
    return meta
