"""How closely one detector's boxes follow another's: recall and precision at an IoU, score drift.

Used to state what a faster, inexact runtime (``--int8``) costs, against the float model's boxes.
"""
from __future__ import annotations

import numpy as np

from detector.ops.iou import box_iou
from detector.types.detections import Detections


def agreement(reference: list[Detections], candidate: list[Detections], iou: float = 0.5) -> dict:
    """Frame by frame, reference boxes best score first each take the free candidate box of their
    class that overlaps them most, if by ``iou`` or more. Returns the frame and box counts, recall
    (matched / reference boxes), precision (matched / candidate boxes) and the mean |score change|
    over matched pairs (None when nothing matched)."""
    n_ref = n_cand = matched = 0
    diffs: list[float] = []
    for a, b in zip(reference, candidate, strict=True):
        n_ref, n_cand = n_ref + len(a), n_cand + len(b)
        if not len(a) or not len(b):
            continue
        m = box_iou(a.xyxy, b.xyxy) * (a.class_ids[:, None] == b.class_ids[None, :])
        free = np.ones(len(b), bool)
        for i in np.argsort(-a.scores, kind="stable"):
            j = int(np.argmax(np.where(free, m[i], -1.0)))
            if free[j] and m[i, j] >= iou:
                free[j] = False
                matched += 1
                diffs.append(abs(float(a.scores[i]) - float(b.scores[j])))
    return {"frames": len(reference), "reference_boxes": n_ref, "candidate_boxes": n_cand,
            "recall": matched / max(n_ref, 1), "precision": matched / max(n_cand, 1),
            "mean_score_diff": float(np.mean(diffs)) if diffs else None}
