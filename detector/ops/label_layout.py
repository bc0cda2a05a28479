"""Where box labels go: inside the frame, off the header bands, and off one another where there is room.

Pure geometry on pixel rectangles ``(x1, y1, x2, y2)`` with x right and y down; x2/y2 are
exclusive, so a ``w`` x ``h`` label at (x, y) is ``(x, y, x + w, y + h)``.
"""
from __future__ import annotations

import itertools

import numpy as np


def place_labels(boxes: np.ndarray, sizes: list[tuple[int, int]], frame_wh: tuple[int, int],
                 top: int = 0, bottom: int | None = None) -> np.ndarray:
    """One label rectangle per box, (N, 4) int, placed in order (boxes best first get first pick).

    boxes: (N, 4) xyxy pixels. sizes: N (width, height) of the labels. Labels stay within
    x in [0, W] and y in [top, bottom] (``bottom`` defaults to H): the bands above ``top`` and
    below ``bottom`` hold the header and count rows. Each label takes the first free spot of:
    above its box, inside its top edge, below it, right-aligned above, then the same spots moved
    one and two label heights further out; then, in a crowd, the nearest free spot of a wider
    search (up to ``SEARCH_ROWS`` label heights above and below, half a label width at a time
    sideways); with none free, the spot overlapping placed labels least.
    """
    w, h = frame_wh
    bottom = h if bottom is None else bottom
    placed: list[tuple[int, int, int, int]] = []
    for (bx1, by1, bx2, by2), (lw, lh) in zip(np.asarray(boxes, np.float64).reshape(-1, 4), sizes):
        bx1, by1, bx2, by2 = int(round(bx1)), int(round(by1)), int(round(bx2)), int(round(by2))
        spots = [(bx1, by1 - lh), (bx1, by1), (bx1, by2), (bx2 - lw, by1 - lh), (bx1, by2 - lh)]
        for k in (1, 2):
            spots += [(bx1, by1 - lh * (k + 1)), (bx1, by2 + lh * k), (bx1, by1 + lh * k),
                      (bx2 - lw, by1 - lh * (k + 1)), (bx2 - lw, by2 + lh * k)]
        best, best_cost = None, None
        for x, y in itertools.chain(spots, _wider(bx1, by1, lw, lh)):
            # clamping keeps the label whole: at the frame's edges and clear of the bands
            x = min(max(x, 0), max(w - lw, 0))
            y = min(max(y, top), max(bottom - lh, top))
            rect = (x, y, x + lw, y + lh)
            cost = sum(_area(rect, p) for p in placed)
            if best_cost is None or cost < best_cost:
                best, best_cost = rect, cost
                if cost == 0:
                    break
        placed.append(best)
    return np.array(placed, np.int64).reshape(-1, 4)


SEARCH_ROWS = 8  # how far (label heights) the crowd search goes from a box; a leader line joins them


def _wider(bx1: int, by1: int, lw: int, lh: int):
    """Spots around the box's top-left corner, nearest first: rows of label heights up and down,
    shifted sideways by half a label width (only reached when the usual spots are all taken)."""
    offsets = [(dx, dy) for dy in range(-SEARCH_ROWS, SEARCH_ROWS + 1) for dx in range(-4, 5)]
    offsets.sort(key=lambda o: (abs(o[0]) * lw / 2) ** 2 + (abs(o[1]) * lh) ** 2)
    for dx, dy in offsets:
        yield bx1 + dx * lw // 2, by1 - lh + dy * lh


def leader(rect, box, gap: int = 4) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """The shortest segment from a label ``rect`` to its ``box`` (both xyxy) when they are more than
    ``gap`` px apart (the label was moved off its box to make room), else None."""
    def span(a1, a2, b1, b2):  # the closest coordinates of two intervals along one axis
        if a2 < b1:
            return a2, b1
        if b2 < a1:
            return a1, b2
        mid = (max(a1, b1) + min(a2, b2)) // 2
        return mid, mid
    (lx, bx), (ly, by) = span(rect[0], rect[2], int(box[0]), int(box[2])), span(rect[1], rect[3], int(box[1]), int(box[3]))
    if max(abs(lx - bx), abs(ly - by)) <= gap:
        return None
    return (int(lx), int(ly)), (int(bx), int(by))


def _area(a, b) -> int:
    return max(0, min(a[2], b[2]) - max(a[0], b[0])) * max(0, min(a[3], b[3]) - max(a[1], b[1]))


def overlapping_pairs(rects: np.ndarray) -> int:
    """How many pairs of the (N, 4) rectangles share some area (touching edges do not count)."""
    r = np.asarray(rects, np.int64).reshape(-1, 4)
    if len(r) < 2:
        return 0
    iw = np.minimum(r[:, None, 2], r[None, :, 2]) - np.maximum(r[:, None, 0], r[None, :, 0])
    ih = np.minimum(r[:, None, 3], r[None, :, 3]) - np.maximum(r[:, None, 1], r[None, :, 1])
    hit = (iw > 0) & (ih > 0)
    return int(np.triu(hit, 1).sum())
