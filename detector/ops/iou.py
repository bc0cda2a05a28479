"""Intersection over union of axis-aligned boxes, and whether a box has moved from another."""
from __future__ import annotations

import numpy as np


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every xyxy box in a (N, 4) with every one in b (M, 4): (N, M); 0 where both boxes
    have no area."""
    if not len(a) or not len(b):
        return np.zeros((len(a), len(b)))
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda z: np.clip(z[:, 2] - z[:, 0], 0, None) * np.clip(z[:, 3] - z[:, 1], 0, None)  # noqa: E731
    union = area(a)[:, None] + area(b)[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_moved(anchor: np.ndarray, box: np.ndarray, shift: float = 0.2) -> bool:
    """Whether ``box`` is away from ``anchor`` (both (4,) xyxy) by more than a still object's jitter:
    its centre shifted by over ``shift`` of the anchor's width or height, or a side changed by over a
    third (a still object's boxes from views at other scales differ by less)."""
    aw, ah = anchor[2] - anchor[0], anchor[3] - anchor[1]
    bw, bh = box[2] - box[0], box[3] - box[1]
    d = np.abs((box[:2] + box[2:]) - (anchor[:2] + anchor[2:])) / 2
    return bool(d[0] > shift * aw or d[1] > shift * ah or not 0.75 <= bh / max(ah, 1e-6) <= 4 / 3
                or not 0.75 <= bw / max(aw, 1e-6) <= 4 / 3)
