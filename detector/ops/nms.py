"""Greedy per-class non-maximum suppression in NumPy.

Lookout's own, so the detector needs no torchvision import (which pulls in torch._dynamo: 2.3 s of
start-up on the benchmark machine). Same rule as TF's and torchvision's NMS: boxes are visited best
score first, and a box is dropped when its IoU with a kept box of its class is above the threshold.
"""
from __future__ import annotations

import numpy as np


def _iou_with(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """IoU (float32) of one box (4,) with others (M, 4); corners in either (x1, y1, x2, y2) or (y1, x1, y2, x2)."""
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    wh = np.clip(hi - lo, 0.0, None)
    inter = wh[:, 0] * wh[:, 1]
    area = (box[2] - box[0]) * (box[3] - box[1])
    areas = (others[:, 2] - others[:, 0]) * (others[:, 3] - others[:, 1])
    return inter / (area + areas - inter)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> np.ndarray:
    """Indices of the boxes kept, best score first (ties: lower index first).

    boxes (N, 4) float32 corners, scores (N,). The loop runs once per kept box, not per candidate.
    """
    order = np.argsort(-scores, kind="stable")
    keep = []
    thr = np.float32(iou_threshold)
    while order.size:
        i = order[0]
        keep.append(i)
        rest = order[1:]
        if not rest.size:
            break
        order = rest[~(_iou_with(boxes[i], boxes[rest]) > thr)]  # NaN (zero-area pairs) never suppresses
    return np.asarray(keep, dtype=np.int64)


def batched_nms(boxes: np.ndarray, scores: np.ndarray, classes: np.ndarray, iou_threshold: float) -> np.ndarray:
    """NMS within each class; indices kept over all classes, best score first (ties: lower index first)."""
    if boxes.shape[0] == 0:
        return np.zeros(0, dtype=np.int64)
    boxes = np.asarray(boxes, dtype=np.float32)
    scores = np.asarray(scores, dtype=np.float32)
    kept = []
    for c in np.unique(classes):
        idx = np.flatnonzero(classes == c)
        kept.append(idx[nms(boxes[idx], scores[idx], iou_threshold)])
    keep = np.sort(np.concatenate(kept))
    return keep[np.argsort(-scores[keep], kind="stable")]
