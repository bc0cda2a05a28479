"""From raw SSD outputs to ``Detections``, in NumPy: decode, sigmoid, per-class NMS, clip.

Shared by every detector runtime (PyTorch on CPU or CUDA, ONNX Runtime), so they all decide the
same way; it needs no torch, so the ONNX Runtime path starts without importing it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.types.detections import Detections
from detector.ops.nms import batched_nms


@dataclass(frozen=True)
class PostprocessConfig:
    """Score threshold and NMS settings (the thresholds' defaults: ``runtime.options.LoadOptions``).
    TF's graph keeps everything above 1e-8, 100 per class and in total."""

    score_threshold: float
    iou_threshold: float
    max_per_class: int = 100
    max_total: int = 100


def _cap_per_class(keep: np.ndarray, cls: np.ndarray, cap: int) -> np.ndarray:
    """Keep at most ``cap`` of each class from ``keep`` (already sorted by score)."""
    kept_cls = cls[keep]
    rank = np.zeros(len(keep), dtype=np.int64)
    for c in np.unique(kept_cls):
        m = kept_cls == c
        rank[m] = np.arange(int(m.sum()))
    return keep[rank < cap]


def select(boxes: np.ndarray, scores: np.ndarray, config: PostprocessConfig):
    """One image: boxes (A, 4) normalised [ymin, xmin, ymax, xmax], scores (A, C) sigmoid, background
    dropped -> (boxes (K, 4) clipped to [0, 1], scores (K,), class indices (K,) from 0), best first.

    Boxes are clipped after NMS and dropped if nothing is left of them, like TF's ClipToWindow.
    Filtering by the score threshold before NMS gives the same boxes above it, since greedy NMS
    never lets a lower score suppress a higher one.
    """
    idx, cls = np.nonzero(scores > config.score_threshold)
    bx, sc = boxes[idx], scores[idx, cls]
    keep = batched_nms(bx, sc, cls, config.iou_threshold)
    if config.max_per_class < len(keep):
        keep = _cap_per_class(keep, cls, config.max_per_class)
    clipped = np.clip(bx[keep], 0.0, 1.0).reshape(-1, 4)
    alive = (clipped[:, 2] > clipped[:, 0]) & (clipped[:, 3] > clipped[:, 1])
    keep = keep[alive][: config.max_total]
    return clipped[alive][: config.max_total], sc[keep], cls[keep]


def to_detections(box_encodings: np.ndarray, class_logits: np.ndarray, anchors: np.ndarray,
                  box_coder: FasterRcnnBoxCoder, config: PostprocessConfig, image_hws: list[tuple[int, int]],
                  labels: tuple[str, ...]) -> list[Detections]:
    """box_encodings (N, A, 4), class_logits (N, A, C+1) float32 (background at 0), anchors (A, 4)
    -> one ``Detections`` per image, xyxy in that image's pixels (``image_hws[i]`` = (h, w))."""
    boxes = box_coder.decode(box_encodings, anchors)
    scores = 1.0 / (1.0 + np.exp(-np.asarray(class_logits, dtype=np.float32)[..., 1:]))
    out = []
    for b, s, (h, w) in zip(boxes, scores, image_hws):
        yxyx, sc, cls = select(b, s, config)
        xyxy = np.stack([yxyx[:, 1] * w, yxyx[:, 0] * h, yxyx[:, 3] * w, yxyx[:, 2] * h], axis=1)
        ids = cls.astype(np.int64) + 1  # the model's class ids: background excluded, first class = 1
        out.append(Detections(xyxy.astype(np.float32).reshape(-1, 4), sc.astype(np.float32), ids,
                              tuple(labels[i] for i in ids), image_hw=(h, w)))
    return out


@dataclass(frozen=True)
class GraphPostprocess:
    """The TF OD API graphs' postprocessing for a model: its anchors (A, 4) normalised
    ``[ymin, xmin, ymax, xmax]`` and box coder; called like ``to_detections`` without them."""

    anchors: np.ndarray
    box_coder: FasterRcnnBoxCoder

    def __call__(self, box_encodings: np.ndarray, class_logits: np.ndarray, config: PostprocessConfig,
                 image_hws: list[tuple[int, int]], labels: tuple[str, ...]) -> list[Detections]:
        return to_detections(box_encodings, class_logits, self.anchors, self.box_coder, config, image_hws, labels)
