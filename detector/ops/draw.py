"""Drawing boxes and labels for file sinks (the window draws its own overlays with QPainter)."""
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
    text = f"{dets.labels[i]} {dets.scores[i]:.2f}"
    if dets.track_ids is not None and dets.track_ids[i] >= 0:
        text = f"#{int(dets.track_ids[i])} {text}"
    if dets.box_classes is not None and dets.box_classes[i].top:
        label, p = dets.box_classes[i].top[0]
        text += f" | {label.split(',')[0]} {p:.2f}"
    return text


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


def _draw_analytics(out: np.ndarray, dets: Detections, analytics, thick: int, scale: float) -> None:
    for zone in analytics.zones:
        cv2.polylines(out, [np.array(zone.points, np.int32)], True, (255, 255, 0), thick, cv2.LINE_AA)
    for line in analytics.lines:
        p1, p2 = (tuple(int(round(v)) for v in p) for p in (line.p1, line.p2))
        cv2.line(out, p1, p2, (0, 255, 255), thick + 1, cv2.LINE_AA)
        at = (min(max(p1[0], 4), out.shape[1] - 60), min(max(p1[1] - 6, 14), out.shape[0] - 4))  # inside the frame
        cv2.putText(out, line.name, at, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 255), 1, cv2.LINE_AA)
    ids = dets.track_ids if dets.track_ids is not None else np.zeros(0, np.int64)
    colors = {int(t): class_color(c) for t, c in zip(ids, dets.class_ids) if t >= 0}
    for tid, pts in analytics.trails.items():
        if len(pts) > 1 and tid in colors:
            cv2.polylines(out, [pts.astype(np.int32)], False, colors[tid], thick, cv2.LINE_AA)
    for k, text in enumerate(count_lines(analytics)):
        y = out.shape[0] - 10 - int(22 * scale / 0.6) * k
        cv2.putText(out, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, text, (8, y), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 255, 255), 1, cv2.LINE_AA)


def annotate(image: np.ndarray, dets: Detections, header: str | None = None, analytics=None) -> np.ndarray:
    """A copy of ``image`` (HxWx3 BGR) with boxes, captions (track IDs when tracked) and an optional
    header line drawn on it; with ``analytics`` (``counting.FrameAnalytics``) also the counting
    lines, zones, short trails and the counts."""
    out = image.copy()
    h, w = out.shape[:2]
    thick = max(1, round(min(h, w) / 300))
    scale = max(0.4, min(h, w) / 900)
    if analytics is not None:
        _draw_analytics(out, dets, analytics, thick, scale)
    for i in range(len(dets)):
        x1, y1, x2, y2 = (int(round(v)) for v in dets.xyxy[i])
        color = class_color(dets.class_ids[i])
        cv2.rectangle(out, (x1, y1), (x2, y2), color, thick)  # axis-aligned: antialiasing buys nothing
        text = box_caption(dets, i)
        (tw, th), base = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)
        ty = y1 - 2 if y1 - th - base - 2 >= 0 else y1 + th + base + 2
        cv2.rectangle(out, (x1, ty - th - base), (x1 + tw + 2, ty + base - 2), color, -1)
        cv2.putText(out, text, (x1 + 1, ty - 2), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
    if dets.frame_class is not None and dets.frame_class.top:
        label, p = dets.frame_class.top[0]
        header = (header + "  " if header else "") + f"scene: {label.split(',')[0]} {p:.2f}"
    if header:
        cv2.putText(out, header, (8, int(24 * scale / 0.6)), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(out, header, (8, int(24 * scale / 0.6)), cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1,
                    cv2.LINE_AA)
    return out
