"""The 2D teacher's per-pixel class probabilities of a frame's cameras, at low resolution, for
pixel-feature distillation (`train.w_pixel_distill`, loc_core/train/trainer.py).

Each camera image goes through the segmenter once (`OnnxSegmenter.class_probabilities`); the
softmax over the table's K trained classes is area-averaged down to `1/stride` of the part of the
model input the image covers, so the map spans the whole image: cell (row, col) of an (h, w) map
covers image fractions [col/w, (col+1)/w) x [row/h, (row+1)/h), the convention of
`loc_core.models.projection.feature_indices`. Kept as float16 probabilities (not text-space maps),
so a cached sample grows by C x h x w x K x 2 bytes before compression."""
from __future__ import annotations

import cv2
import numpy as np

from loc_core.data.frame import Frame
from loc_core.teacher.segmenter import OnnxSegmenter, camera_rgb

DEFAULT_STRIDE = 8


def camera_class_maps(segmenter: OnnxSegmenter, frame: Frame, stride: int = DEFAULT_STRIDE) -> np.ndarray:
    """-> (C,h,w,K) float16 class probabilities of the frame's C cameras, in camera order (each cell's
    K values sum to 1 up to float16 rounding); (0,1,1,K) for a frame without cameras. Every camera's
    map has the size of the first one's (the first covers ceil(H'/stride) x ceil(W'/stride) of its
    H' x W' share of the model input)."""
    if stride < 1:
        raise ValueError(f'pixel teacher stride must be >= 1, got {stride}')
    classes = segmenter.table.num_trained
    maps, size = [], None
    for camera in frame.cameras:
        probs, _ = segmenter.class_probabilities(camera_rgb(camera))  # (K, h', w')
        if size is None:
            size = (max(1, -(-probs.shape[2] // stride)), max(1, -(-probs.shape[1] // stride)))  # (w, h)
        maps.append(_resize_probabilities(probs, size))
    if not maps:
        return np.zeros((0, 1, 1, classes), np.float16)
    return np.stack(maps).astype(np.float16)


def _resize_probabilities(probs: np.ndarray, size: tuple) -> np.ndarray:
    """(K,h',w') float32 probabilities -> (h,w,K) float32 at `size` (w, h), area-averaged (a convex
    combination: the sums stay 1), renormalised against rounding."""
    if (probs.shape[2], probs.shape[1]) != tuple(size):  # one class at a time: OpenCV's area resize takes
        probs = np.stack([cv2.resize(p, size, interpolation=cv2.INTER_AREA) for p in probs])  # <= 4 channels
    hwk = np.ascontiguousarray(probs.transpose(1, 2, 0))
    return hwk / np.maximum(hwk.sum(axis=2, keepdims=True), 1e-6)
