"""`OnnxSegmenter`: a 2D semantic segmenter in ONNX, run with onnxruntime on the CPU, turning an
RGB image into per-pixel class distributions in the Occ3D vocabulary.

The model is any ONNX graph with one image input 1x3xHxW (float32, fixed H and W) and one output
1xCxHxW of raw scores, plus a class table (`classes.py`) naming its trained channels. Input size
is read from the graph; the image is resized (bilinear) or padded at the right and bottom to it,
scaled to [0, 1] and normalised by the table's mean and std; the softmax runs over the trained
channels only, and their probabilities are summed into Occ3D columns."""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from loc_core.data.frame import CameraView
from loc_core.data.sample_data import models_root
from loc_core.teacher.classes import ClassTable, load_class_table

CLASS_TABLE_NAME = 'classes.json'


class TeacherModelError(ValueError):
    """A teacher model that cannot be loaded or run; the message names the file."""


@dataclass
class SegmentationMap:
    """One image's class distributions. `probs` (h, w, 18) uint8 probabilities times 255 (rounded):
    columns 0-16 Occ3D ids, 17 the ignored classes, over the part of the model input the image covers; `scale` (sx, sy):
    image pixel (u, v) -> map cell (floor(u * sx), floor(v * sy))."""

    probs: np.ndarray
    scale: tuple

    def lookup(self, pixels) -> np.ndarray:
        """(N,2) image pixels (u, v) -> (N, 18) float32 distributions at those pixels."""
        height, width = self.probs.shape[:2]
        col = np.clip(np.floor(pixels[:, 0] * self.scale[0]).astype(np.int64), 0, width - 1)
        row = np.clip(np.floor(pixels[:, 1] * self.scale[1]).astype(np.int64), 0, height - 1)
        return self.probs[row, col].astype(np.float32) * np.float32(1.0 / 255.0)

    def labels(self) -> np.ndarray:
        """(h, w) uint8 most probable column per cell (17 = ignored), for pictures."""
        return np.argmax(self.probs, axis=-1).astype(np.uint8)


def resolve_model_path(path) -> Path:
    """A teacher given as a path: as written when it exists, else relative to the models folder
    (`$LOC_MODELS`, default ../shared/models). FileNotFoundError names both places."""
    given = Path(path)
    if given.exists():
        return given.resolve()
    root = models_root()
    if root is not None and not given.is_absolute() and (root / given).exists():
        return (root / given).resolve()
    raise FileNotFoundError(f'teacher model {path} not found (looked at {given.resolve()} and in the models '
                            f'folder {root or "(none: set LOC_MODELS)"})')


def file_sha256(path) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for block in iter(lambda: handle.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def camera_rgb(camera: CameraView) -> np.ndarray:
    """(H,W,3) uint8 RGB of a camera: its original compressed bytes when it has them (sources may
    leave `image` blank to save memory), else `image`."""
    if camera.jpeg:
        try:
            with Image.open(io.BytesIO(camera.jpeg)) as img:
                return np.asarray(img.convert('RGB'))
        except Exception as exc:  # PIL raises several types for bad data
            raise ValueError(f'camera {camera.name}: undecodable image bytes ({exc})') from exc
    return camera.image


class OnnxSegmenter:
    """One ONNX segmentation model. `model_path` the .onnx file; `class_table` a `ClassTable`
    (default: `classes.json` beside the model); `threads` onnxruntime's intra-op threads (0 = its
    default)."""

    def __init__(self, model_path, class_table: ClassTable | None = None, threads: int = 2):
        import onnxruntime as ort

        self.path = Path(model_path)
        if not self.path.is_file():
            raise FileNotFoundError(f'teacher model {self.path} not found')
        self.table = class_table or load_class_table(self.path.parent / CLASS_TABLE_NAME)
        options = ort.SessionOptions()
        options.intra_op_num_threads = int(threads)
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), options, providers=['CPUExecutionProvider'])
        except Exception as exc:  # onnxruntime raises its own types for unreadable graphs
            raise TeacherModelError(f'teacher model {self.path} is not a loadable ONNX model: {exc}') from exc
        inputs, outputs = self.session.get_inputs(), self.session.get_outputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise TeacherModelError(f'teacher model {self.path}: needs one 1x3xHxW image input, has '
                                    f'{[(i.name, i.shape) for i in inputs]}')
        shape = inputs[0].shape
        if not all(isinstance(d, int) for d in shape[2:]) or shape[1] != 3:
            raise TeacherModelError(f'teacher model {self.path}: input shape {shape} must be 1x3xHxW with fixed H, W')
        self.input_name = inputs[0].name
        self.input_size = (int(shape[3]), int(shape[2]))  # (width, height)
        channels = outputs[0].shape[1] if len(outputs[0].shape) == 4 else None
        if isinstance(channels, int) and channels < self.table.num_trained:
            raise TeacherModelError(f'teacher model {self.path}: {channels} output channels, but the class table '
                                    f'names {self.table.num_trained}')
        self.columns = self.table.to_columns()
        mean, std = np.asarray(self.table.mean, np.float32), np.asarray(self.table.std, np.float32)
        self._scale, self._offset = 1.0 / (255.0 * std), -mean / std

    def identity(self) -> dict:
        """What the label settings file records of this teacher (a folder's labels come from one)."""
        return {'model': self.path.name, 'sha256': file_sha256(self.path), 'input_size': list(self.input_size),
                'classes': self.table.record()}

    def fit_mode(self, image_size) -> str:
        """'pad' or 'resize' for an image of (width, height)."""
        if self.table.fit != 'auto':
            return self.table.fit
        width, height = image_size
        return 'pad' if width <= self.input_size[0] and height <= self.input_size[1] else 'resize'

    def segment(self, rgb: np.ndarray) -> SegmentationMap:
        """(H,W,3) uint8 RGB -> its `SegmentationMap`."""
        trained, scale = self.class_probabilities(rgb)
        probs = np.tensordot(trained, self.columns * np.float32(255.0), axes=([0], [0]))  # (h, w, 18)
        probs += 0.5
        return SegmentationMap(probs.astype(np.uint8), scale)

    def class_probabilities(self, rgb: np.ndarray) -> tuple[np.ndarray, tuple]:
        """(H,W,3) uint8 RGB -> ((K,h,w) float32 softmax over the table's K trained classes, over the
        part of the model input the image covers (each pixel's K values sum to 1), (sx, sy) scale:
        image pixel (u, v) -> cell (floor(u * sx), floor(v * sy)))."""
        rgb = np.asarray(rgb)
        if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
            raise ValueError(f'teacher input must be (H,W,3) uint8 RGB, got {rgb.shape} {rgb.dtype}')
        height, width = rgb.shape[:2]
        in_w, in_h = self.input_size
        mode = self.fit_mode((width, height))
        if mode == 'resize':
            fitted = np.asarray(Image.fromarray(rgb).resize((in_w, in_h), Image.BILINEAR))
            covered, scale = (in_h, in_w), (in_w / width, in_h / height)
        else:
            fitted = np.zeros((in_h, in_w, 3), np.uint8)
            covered = (min(height, in_h), min(width, in_w))
            fitted[:covered[0], :covered[1]] = rgb[:covered[0], :covered[1]]
            scale = (1.0, 1.0)
        tensor = (fitted.astype(np.float32) * self._scale + self._offset).transpose(2, 0, 1)[None]
        try:
            logits = self.session.run(None, {self.input_name: np.ascontiguousarray(tensor)})[0]
        except Exception as exc:
            raise TeacherModelError(f'teacher model {self.path} failed to run: {exc}') from exc
        trained = logits[0, :self.table.num_trained, :covered[0], :covered[1]].astype(np.float32)
        trained = trained - trained.max(axis=0, keepdims=True)
        np.exp(trained, out=trained)
        trained /= trained.sum(axis=0, keepdims=True)
        return trained, scale
