"""Label overlaps per frame: the drawing before the annotators (labels always on top of the box,
text at 0.64 scale on 576 rows) against today's ``draw.Annotation``, from a detections JSONL.

    python tools/label_overlaps.py d.jsonl --size 768x576

Prints, over the frames with two or more boxes: mean and max overlapping label pairs per frame and
labels reaching outside the frame, for the old layout, the old layout at today's text size (what
the smaller text alone buys) and today's layout; and labels more than 4 px from their own box.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from detector.ops.captions import box_caption  # noqa: E402
from detector.ops.label_layout import overlapping_pairs  # noqa: E402
from detector.types.detections import Detections  # noqa: E402


def old_label_rects(dets: Detections, h: int, w: int, scale: float | None = None) -> np.ndarray:
    """Where the drawing before the annotators put each label, (N, 4) xyxy: on top of the box's
    left corner, or inside the box when there was no room above; never moved sideways."""
    scale = max(0.4, min(h, w) / 900) if scale is None else scale
    rects = []
    for i in range(len(dets)):
        x1, y1 = (int(round(v)) for v in dets.xyxy[i][:2])
        (tw, th), base = cv2.getTextSize(box_caption(dets, i), cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
        rects.append((x1, ty - th - base, x1 + tw + 2, ty + base - 2))
    return np.array(rects, np.int64).reshape(-1, 4)


def outside(rects: np.ndarray, h: int, w: int) -> int:
    r = rects.reshape(-1, 4)
    return int(((r[:, 0] < 0) | (r[:, 1] < 0) | (r[:, 2] > w) | (r[:, 3] > h)).sum())


def detached(rects: np.ndarray, boxes: np.ndarray, gap: int = 4) -> int:
    """Labels more than ``gap`` px away from their own box (moved off it to make room)."""
    r, b = rects.reshape(-1, 4), np.round(boxes.reshape(-1, 4))
    dx = np.maximum(0, np.maximum(b[:, 0] - r[:, 2], r[:, 0] - b[:, 2]))
    dy = np.maximum(0, np.maximum(b[:, 1] - r[:, 3], r[:, 1] - b[:, 3]))
    return int((np.hypot(dx, dy) > gap).sum())


def measure(jsonl: Path, h: int, w: int) -> dict:
    from detector.ops.annotators import LabelAnnotator
    from detector.ops.text import TextStyle
    labels, blank = LabelAnnotator(), np.zeros((h, w, 3), np.uint8)
    small = TextStyle.for_frame(h, w, labels.relative_size).scale
    rows = {"old": [], "old_layout_new_size": [], "new": []}
    outs = {k: 0 for k in rows}
    away = {k: 0 for k in rows}
    n_labels = 0
    for text in jsonl.read_text().splitlines():
        dets = Detections.from_json(json.loads(text)["detections"], (h, w))
        if len(dets) < 2:
            continue
        for key, rects in (("old", old_label_rects(dets, h, w)), ("old_layout_new_size", old_label_rects(dets, h, w, small)),
                           ("new", labels(blank.copy(), dets.clip(w, h)))):
            rows[key].append(overlapping_pairs(rects))
            outs[key] += outside(rects, h, w)
            away[key] += detached(rects, dets.clip(w, h).xyxy)
        n_labels += len(dets)
    return {k: {"frames": len(v), "mean_pairs": round(float(np.mean(v)), 2), "max_pairs": int(np.max(v)),
                "frames_with_overlap": int(np.sum(np.array(v) > 0)), "labels_outside": outs[k],
                "labels_detached": away[k], "labels": n_labels} for k, v in rows.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("jsonl", type=Path)
    ap.add_argument("--size", default="768x576", help="the video's WxH")
    a = ap.parse_args()
    w, h = (int(v) for v in a.size.lower().split("x"))
    print(json.dumps(measure(a.jsonl, h, w), indent=2))


if __name__ == "__main__":
    main()
