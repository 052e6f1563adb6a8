"""The ONNX Runtime backend of `LocPredictor` (`inference.backend: onnxruntime`).

The network's prompt-independent part runs as the two graphs of `onnx_export` (dense per frame,
then per occupied voxel); the LiDAR rasterisation, the camera projections and the prompt step
(h . W^T t, best prompt, match score) run in PyTorch as with the torch backend, so prompts change
at run time without a new export.

Where the graphs come from: `inference.onnx_path` when set (exported there on first use when the
folder holds no current export yet; an export of another network there is an error), else a cache folder
named by the network's digest under `$LOC_ONNX_CACHE` (default `~/.cache/loc/onnx`), exported on
first use. Either way the export happens when the predictor is built, never inside `predict`.

Execution providers follow `inference.device`: 'cpu' -> CPUExecutionProvider with
`inference.num_threads` intra-op threads; 'cuda' / 'cuda:N' -> TensorrtExecutionProvider and
CUDAExecutionProvider (device N) when this onnxruntime build has them (the onnxruntime-gpu wheel;
TensorRT also needs its libraries), each falling back to the next and finally to the CPU.
Inputs and outputs pass through host memory."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import torch

from loc_core.inference.onnx_export import (DENSE_FILE, VOXEL_FILE, export_onnx, network_digest,
                                            read_export_meta)
from loc_core.models.heads import match_scores

log = logging.getLogger(__name__)
SCORE_CHUNK = 65536  # voxels per step of the prompt step: bounds its (chunk, P) temporaries
GPU_PROVIDERS = ('TensorrtExecutionProvider', 'CUDAExecutionProvider')


def cache_root() -> Path:
    """`$LOC_ONNX_CACHE`, else ~/.cache/loc/onnx."""
    env = os.environ.get('LOC_ONNX_CACHE')
    return Path(env).expanduser() if env else Path.home() / '.cache' / 'loc' / 'onnx'


def ensure_export(model, onnx_path: str = '') -> Path:
    """The export folder of `model` (see the module docstring), exporting it when absent."""
    digest = network_digest(model)
    folder = Path(onnx_path).expanduser() if onnx_path else cache_root() / digest[:20]
    if (folder / 'export.json').exists():
        try:
            meta = read_export_meta(folder)
        except ValueError as exc:  # an export by an older version of this code: exported again
            log.info('%s', exc)
            meta = {}
        if meta.get('network_digest') == digest:
            return folder
        if onnx_path and meta:
            raise ValueError(f'inference.onnx_path {folder} holds an export of another network '
                             f'(digest {str(meta.get("network_digest"))[:12]}, this one {digest[:12]})')
    log.info('exporting the network to ONNX in %s', folder)
    return export_onnx(model, folder)


def providers_for(device: str) -> list:
    """onnxruntime providers for a torch device string (see the module docstring)."""
    import onnxruntime as ort

    device = torch.device(device)
    if device.type != 'cuda':
        return ['CPUExecutionProvider']
    available = set(ort.get_available_providers())
    options = {'device_id': device.index or 0}
    chosen = [(name, dict(options)) for name in GPU_PROVIDERS if name in available]
    if not chosen:
        log.warning('inference.device %s: this onnxruntime has no CUDA/TensorRT provider (%s); running on the CPU',
                    device, sorted(available))
    return chosen + ['CPUExecutionProvider']


class OnnxBackend:
    """Runs `model`'s exported graphs (the torch `model` keeps the projections and the prompt
    operator's weights). `folder` an export of exactly this network (`ensure_export`)."""

    def __init__(self, model, folder, num_threads: int = 1, device: str = 'cpu'):
        import onnxruntime as ort

        self.model, self.folder = model, Path(folder)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(num_threads)
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        # idle pool threads sleep instead of spinning: on a small robot CPU shared with decoding and
        # publishing threads a spinning thread takes a core from them (as OpenBLAS's, cpu_runtime.py)
        options.add_session_config_entry('session.intra_op.allow_spinning', '0')
        providers = providers_for(device)
        self.dense = ort.InferenceSession(str(self.folder / DENSE_FILE), options, providers=providers)
        self.voxels = ort.InferenceSession(str(self.folder / VOXEL_FILE), options, providers=providers)
        self.providers = self.dense.get_providers()

    def encode(self, sample, threshold_logit: float) -> tuple:
        """ModelInput -> ((X,Y,Z) float32 occupancy logits, (M,3) int64 voxels with logit >=
        `threshold_logit`, and what `classify` needs)."""
        model = self.model
        model.projections.observe(sample.rig)
        lidar, column_index, reach = model.column_sampling(sample)
        images = sample.images
        if len(images) == 0:  # no camera: one black image that no index refers to
            width, height = model.image_size
            images = images.new_zeros((1, 3, height, width))
        logits, columns, table = self.dense.run(None, {
            'images': images.cpu().numpy(), 'lidar': lidar.cpu().numpy(), 'column_index': column_index.cpu().numpy()})
        logits = model.carve(torch.from_numpy(logits)[None], [sample])[0]
        occupied = torch.nonzero(logits >= threshold_logit)
        return logits, occupied, (sample, reach, columns, table)

    def classify(self, state, occupied, prompt_set, inference, with_features: bool) -> tuple:
        """The language step of the occupied voxels -> ((M,) match score, (M,) best prompt index,
        (M,L) or (M,0) feature coefficients), as `LocNetwork.classify_voxels`."""
        sample, reach, columns, table = state
        nx, ny, nz = self.model.grid.shape
        count = len(occupied)
        hidden_dim = columns.shape[1]
        if count == 0:
            empty = torch.empty(0)
            return empty, torch.empty(0, dtype=torch.int64), torch.empty((0, hidden_dim if with_features else 0))
        i, j, k = occupied.unbind(1)
        column = i * ny + j
        camera_index = self.model.camera_index_of(sample, occupied, column * nz + k, reach)
        hidden, norm = self.voxels.run(None, {'language_columns': columns, 'camera_table': table,
                                              'column': column.numpy(), 'camera_index': camera_index.numpy(),
                                              'layer': k.numpy()})
        hidden, norm = torch.from_numpy(hidden), torch.from_numpy(norm)
        projected_text = prompt_set.operator[0].to(hidden.device, torch.float32)
        best = torch.empty(count)
        best_index = torch.empty(count, dtype=torch.int64)
        for start in range(0, count, SCORE_CHUNK):
            rows = slice(start, start + SCORE_CHUNK)
            match_scores(hidden[rows] @ projected_text.T, norm[rows], prompt_set.label_weights,
                         inference.unknown_temperature, inference.unknown_norm_weight,
                         out=(best[rows], best_index[rows]))
        coefficients = hidden.div_(norm[:, None]) if with_features else hidden.new_empty((count, 0))
        return best, best_index, coefficients

