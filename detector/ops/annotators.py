"""Composable annotators: each draws one kind of thing in place on an HxWx3 uint8 BGR image.

Settings go in the constructor, the frame's data in the call, so one instance serves every frame
and ``draw.annotate`` composes them. Boxes are ``Detections.xyxy`` pixels (x right, y down, x2/y2
the far edges); sizes of strokes and text follow the frame's size.
"""
from __future__ import annotations

import cv2
import numpy as np

from detector.ops.captions import box_caption, class_color
from detector.ops.label_layout import leader, place_labels
from detector.ops.text import TextStyle, draw_text, draw_text_inside
from detector.types.detections import Detections


def stroke(height: int, width: int) -> int:
    """Line thickness in pixels for a frame: 2 at 576 rows, 1 below 450."""
    return max(1, round(min(height, width) / 300))


def _pixel_box(row: np.ndarray, width: int, height: int) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (int(round(v)) for v in row)
    return min(max(x1, 0), width), min(max(y1, 0), height), min(max(x2, 0), width), min(max(y2, 0), height)


class BlurAnnotator:
    """Blurs the boxes of the given class names (privacy): each box is shrunk to about ``cells``
    samples across its smaller side and scaled back up smoothly, which leaves colours and shapes but
    no face, text or number plate; the cost is two small resizes, whatever the box's size (a
    Gaussian as strong would need a kernel as wide as the box)."""

    def __init__(self, classes, cells: int = 5):
        self.classes = frozenset(classes)
        self.cells = cells

    def __call__(self, image: np.ndarray, dets: Detections) -> None:
        if not self.classes:
            return
        h, w = image.shape[:2]
        for i in np.flatnonzero([label in self.classes for label in dets.labels]):
            x1, y1, x2, y2 = _pixel_box(dets.xyxy[i], w, h)
            if x2 - x1 < 2 or y2 - y1 < 2:
                continue
            step = max(2.0, min(x2 - x1, y2 - y1) / self.cells)
            roi = image[y1:y2, x1:x2]
            small = cv2.resize(roi, (max(1, round((x2 - x1) / step)), max(1, round((y2 - y1) / step))),
                               interpolation=cv2.INTER_AREA)
            roi[:] = cv2.resize(small, (x2 - x1, y2 - y1), interpolation=cv2.INTER_LINEAR)


class BoxAnnotator:
    """Box outlines in their class's colour; ``thickness`` None follows the frame size."""

    def __init__(self, thickness: int | None = None):
        self.thickness = thickness

    def __call__(self, image: np.ndarray, dets: Detections) -> None:
        h, w = image.shape[:2]
        t = self.thickness or stroke(h, w)
        for i in range(len(dets)):
            x1, y1, x2, y2 = (int(round(v)) for v in dets.xyxy[i])
            # axis-aligned: antialiasing buys nothing
            cv2.rectangle(image, (x1, y1), (x2, y2), class_color(dets.class_ids[i]), t)


class LabelAnnotator:
    """Each box's caption on its class colour, placed by ``label_layout.place_labels``: inside the
    frame, between ``top`` and ``bottom`` (the bands the header and count rows hold), and off the
    labels of better-scored boxes where there is room; a label moved off its box gets a thin line
    to it. ``relative_size`` scales the text against
    the header rows' (labels are smaller: a crowd's captions would otherwise cover the crowd)."""

    def __init__(self, relative_size: float = 0.7, caption=box_caption):
        self.relative_size, self.caption = relative_size, caption

    def __call__(self, image: np.ndarray, dets: Detections, top: int = 0, bottom: int | None = None) -> np.ndarray:
        """Draws and returns the labels' rectangles, (N, 4) int xyxy, x2/y2 exclusive."""
        h, w = image.shape[:2]
        style = TextStyle.for_frame(h, w, self.relative_size)
        texts = [self.caption(dets, i) for i in range(len(dets))]
        rects = place_labels(dets.xyxy, [style.size(t) for t in texts], (w, h), top, bottom)
        for i, (text, r) in enumerate(zip(texts, rects)):
            color = class_color(dets.class_ids[i])
            seg = leader(r, np.round(dets.xyxy[i]))
            if seg is not None:  # a label moved off its box to make room: say whose it is
                cv2.line(image, seg[0], seg[1], color, 1, cv2.LINE_AA)
            draw_text(image, text, int(r[0]), int(r[1]), style, color)
        return rects


class TrailAnnotator:
    """Each tracked box's recent path, the last ``seconds`` of it on the source's clock, in its
    class colour (tracks not in this frame are left out)."""

    def __init__(self, seconds: float = 2.0, thickness: int | None = None):
        self.seconds, self.thickness = seconds, thickness

    def __call__(self, image: np.ndarray, dets: Detections, analytics) -> None:
        h, w = image.shape[:2]
        ids = dets.track_ids if dets.track_ids is not None else np.zeros(0, np.int64)
        colors = {int(t): class_color(c) for t, c in zip(ids, dets.class_ids) if t >= 0}
        times = getattr(analytics, "trail_times", {})
        for tid, pts in analytics.trails.items():
            if tid not in colors:
                continue
            if tid in times:
                pts = pts[times[tid] >= analytics.time_s - self.seconds]
            if len(pts) > 1:
                cv2.polylines(image, [np.round(pts).astype(np.int32)], False, colors[tid],
                              self.thickness or stroke(h, w), cv2.LINE_AA)


class CounterAnnotator:
    """Counting lines (yellow) with their names, and zones (cyan), from ``counting.FrameAnalytics``."""

    def __init__(self, relative_size: float = 0.7):
        self.relative_size = relative_size

    def __call__(self, image: np.ndarray, analytics) -> None:
        h, w = image.shape[:2]
        t = stroke(h, w)
        style = TextStyle.for_frame(h, w, self.relative_size)
        for zone in analytics.zones:
            cv2.polylines(image, [np.array(zone.points, np.int32)], True, (255, 255, 0), t, cv2.LINE_AA)
        for line in analytics.lines:
            p1, p2 = (tuple(int(round(v)) for v in p) for p in (line.p1, line.p2))
            cv2.line(image, p1, p2, (0, 255, 255), t + 1, cv2.LINE_AA)
        for line in analytics.lines:
            draw_text_inside(image, line.name, int(round(line.p1[0])) + t, int(round(line.p1[1])), style, (0, 255, 255))


class StateAnnotator:
    """``--state`` regions (``RegionState``s with their pixel ``box``): each region's outline and
    "name: state 0.97" on it ("name: ?" until a first state has held), the caption on the outline's
    top edge, moved inside the frame where the edge is at its border."""

    COLOUR = (0, 165, 255)  # BGR orange: apart from the class colours of boxes and the counters' yellow and cyan

    def __init__(self, relative_size: float = 0.7):
        self.relative_size = relative_size

    def __call__(self, image: np.ndarray, states) -> None:
        h, w = image.shape[:2]
        t = stroke(h, w)
        style = TextStyle.for_frame(h, w, self.relative_size)
        for st in states:
            if st.box is None:
                continue
            x1, y1, x2, y2 = st.box
            cv2.rectangle(image, (x1, y1), (x2 - 1, y2 - 1), self.COLOUR, t)
            text = f"{st.name}: {st.state} {st.score:.2f}" if st.state is not None else f"{st.name}: ?"
            draw_text_inside(image, text, x1, y1 - style.size(text)[1], style, self.COLOUR)


class RowsAnnotator:
    """Rows of text across the top (``at="top"``: the stats header, the frame classifier's
    "scene:") or the bottom (``at="bottom"``: the counts), each on a solid dark background.
    ``band`` says how many pixel rows they take, so labels can keep out of them."""

    def __init__(self, at: str = "top", relative_size: float = 1.0, background=(32, 32, 32), ink=(255, 255, 255)):
        if at not in ("top", "bottom"):
            raise ValueError(f"expected at='top' or 'bottom', got {at!r}")
        self.at, self.relative_size, self.background, self.ink = at, relative_size, background, ink

    def band(self, image_hw: tuple[int, int], rows: list[str]) -> int:
        """Pixel rows the ``rows`` take on an image of ``image_hw`` (h, w); 0 for none."""
        style = TextStyle.for_frame(*image_hw, self.relative_size)
        return sum(style.size(r)[1] for r in rows)

    def __call__(self, image: np.ndarray, rows: list[str]) -> None:
        h, w = image.shape[:2]
        style = TextStyle.for_frame(h, w, self.relative_size)
        y = 0 if self.at == "top" else h - self.band((h, w), rows)
        for row in rows:
            y = draw_text(image, row, 0, y, style, self.background, self.ink)[3]
