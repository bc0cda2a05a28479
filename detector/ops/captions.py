"""What the drawings say and in which colour: class colours, box captions and count rows.

Shared by the file drawings (``annotators``) and the window, which paints the same words with QPainter.
"""
from __future__ import annotations

import cv2
import numpy as np

from detector.types.detections import Detections

# Distinct BGR colours; a class keeps its colour across frames and runs.
PALETTE = [(56, 56, 255), (151, 157, 255), (31, 112, 255), (29, 178, 255), (49, 210, 207), (10, 249, 72),
           (23, 204, 146), (134, 219, 61), (52, 147, 26), (187, 212, 0), (168, 153, 44), (255, 194, 0),
           (147, 69, 52), (255, 115, 100), (236, 24, 0), (255, 56, 132), (133, 0, 82), (255, 56, 203)]


def class_color(class_id: int) -> tuple[int, int, int]:
    """BGR colour of a class: the palette for the first ids, then hues a golden angle apart, so
    each of COCO's 90 ids gets its own colour."""
    i = int(class_id)
    if 0 <= i < len(PALETTE):
        return PALETTE[i]
    hue = int((i * 0.6180339887 % 1.0) * 180)  # OpenCV's 8-bit hue range is 0..179
    b, g, r = cv2.cvtColor(np.uint8([[[hue, 210, 240]]]), cv2.COLOR_HSV2BGR)[0, 0]
    return int(b), int(g), int(r)


def box_caption(dets: Detections, i: int) -> str:
    """Box ``i``'s label: "#7 person 0.87", with the box classifier's top-1 after a bar; a tracked
    object with a sub label shows it and its vote instead of the score: "#7 person - delivery 0.93"
    (a hyphen, not a middle dot: OpenCV's Hershey fonts draw ASCII only)."""
    text = f"{dets.labels[i]} {dets.scores[i]:.2f}"
    if dets.sub_labels is not None and dets.sub_labels[i] is not None:
        text = f"{dets.labels[i]} - {dets.sub_labels[i]} {dets.sub_scores[i]:.2f}"
    if dets.track_ids is not None and dets.track_ids[i] >= 0:
        text = f"#{int(dets.track_ids[i])} {text}"
    if dets.box_classes is not None and dets.box_classes[i].top:
        label, p = dets.box_classes[i].top[0]
        text += f" | {label.split(',')[0]} {p:.2f}"
    return text


def scene_caption(dets: Detections) -> str | None:
    """The frame classifier's top-1, "scene: tabby 0.48", or None without one."""
    if dets.frame_class is None or not dets.frame_class.top:
        return None
    label, p = dets.frame_class.top[0]
    return f"scene: {label.split(',')[0]} {p:.2f}"


def count_lines(analytics) -> list[str]:
    """One text line per counting line and zone: "door: in 3 out 1", "lot: 2 inside (max 4, 7 entered)"."""
    out = []
    counts = analytics.counts
    for line in analytics.lines:
        c = counts["lines"].get(line.name, {})
        out.append(f"{line.name}: in {sum(c.get('in', {}).values())} out {sum(c.get('out', {}).values())}")
    for zone in analytics.zones:
        c = counts["zones"].get(zone.name, {})
        out.append(f"{zone.name}: {sum(c.get('inside', {}).values())} inside (max {max(c.get('max', {0: 0}).values(), default=0)}, "
                   f"{sum(c.get('entered', {}).values())} entered)")
    return out
