"""The drawing every file output, snapshot and the window's video get: ``Annotation`` composes the
annotators (the window paints only its own overlays, the stats and a counter being drawn, over it)."""
from __future__ import annotations

import numpy as np

from detector.ops.annotators import (BlurAnnotator, BoxAnnotator, CounterAnnotator, LabelAnnotator, RowsAnnotator,
                                     StateAnnotator, TrailAnnotator)
from detector.ops.captions import PALETTE, box_caption, class_color, count_lines, scene_caption  # noqa: F401 (API)
from detector.types.detections import Detections


class Annotation:
    """One composition of annotators, drawn in this order: blur (under everything), zones and
    lines, trails, boxes, then the header rows (top) and count rows (bottom), and the box labels
    placed between those two bands so neither covers a label; the --state regions and their states
    over the labels."""

    def __init__(self, blur=(), trail_seconds: float = 2.0):
        self.blur = BlurAnnotator(blur)
        self.counters = CounterAnnotator()
        self.states = StateAnnotator()
        self.trails = TrailAnnotator(trail_seconds)
        self.boxes = BoxAnnotator()
        self.labels = LabelAnnotator()
        self.header = RowsAnnotator("top")
        self.counts = RowsAnnotator("bottom", ink=(0, 255, 255))

    def __call__(self, image: np.ndarray, dets: Detections, header: str | None = None, analytics=None,
                 states=()) -> np.ndarray:
        return self.draw(image, dets, header, analytics, states)[0]

    def draw(self, image: np.ndarray, dets: Detections, header: str | None = None,
             analytics=None, states=()) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
        """The annotated copy of ``image``, the box labels' rectangles ((N, 4) int xyxy, x2/y2
        exclusive, in the order of ``dets``) and the label area's rows (top, bottom): the header
        rows fill [0, top), the count rows [bottom, H). ``states``: ``Result.states``."""
        out = image.copy()
        h, w = out.shape[:2]
        if not dets.clipped:  # API callers may pass the model's raw boxes
            dets = dets.clip(w, h)
        self.blur(out, dets)
        if analytics is not None:
            self.counters(out, analytics)
            self.trails(out, dets, analytics)
        self.boxes(out, dets)
        top_rows = [r for r in (header, scene_caption(dets)) if r]
        bottom_rows = count_lines(analytics) if analytics is not None else []
        top = self.header.band((h, w), top_rows)
        bottom = max(h - self.counts.band((h, w), bottom_rows), top)
        rects = self.labels(out, dets, top, bottom)
        self.states(out, states)  # over the labels: a person in the region must not hide its state
        self.header(out, top_rows)
        self.counts(out, bottom_rows)
        return out, rects, (top, bottom)


def annotate(image: np.ndarray, dets: Detections, header: str | None = None, analytics=None,
             blur=(), states=()) -> np.ndarray:
    """A copy of ``image`` (HxWx3 uint8 BGR) with the boxes of ``dets`` cut to the frame, their
    captions (track IDs when tracked) and an optional ``header`` row; with ``analytics``
    (``counting.FrameAnalytics``) also the counting lines, zones, 2 s trails and the counts;
    the boxes of the class names in ``blur`` pixelated first; ``states`` (``Result.states``): the
    --state regions and their states."""
    return Annotation(blur)(image, dets, header, analytics, states)  # seven small objects: cheaper than a cache
