"""Regions: square crops of a frame for the detector, and the merge of what each crop found.

A 300 x 300 detector given a whole 1920 x 1080 frame sees a person 100 px tall as 28 px; given a
crop around that person, at 100 px. These are the pure-NumPy parts: where the crops go (a grid, or
squares around boxes), boxes mapped back to the frame (a crop's box + the crop's offset, nothing
else) and the merge of overlapping crops' boxes. Which regions a frame gets is the engine's choice
(``engine.regions``).

Boxes are xyxy pixels (the ``Detections`` convention); regions are ``types.regions.Region``.
"""
from __future__ import annotations

import math

import numpy as np

from detector.ops.iou import box_iou
from detector.ops.nms import batched_nms
from detector.types.detections import Detections
from detector.types.regions import Region

OVERLAP = 0.25        # grid tiles overlap by a quarter of their side: an object that size is whole in one
EDGE_PX = 3           # a box this close to a crop's inner edge (in crop pixels at the model's scale) was cut
CUT_PENALTY = 0.5     # a cut box ranks below a whole one of the same object from another region
INSIDE = 0.8          # a box this much inside another counts as inside it
SMALL_PX = 64        # a box under this many model pixels from a coarser view loses to a finer region holding it
MERGE_IOU = 0.45     # same-class boxes from different regions overlapping this much are one object


def grid(width: int, height: int, cols: int, rows: int, min_side: int) -> list[Region]:
    """``cols`` x ``rows`` overlapping square tiles covering a ``width`` x ``height`` frame.

    Side: the larger of width / cols and height / rows, plus ``OVERLAP``, never below ``min_side``
    (the model's input) nor above the frame's shorter side; more columns or rows are added when
    squares that size need them to cover the frame with overlap. Row-major, top-left first."""
    side = math.ceil(max(width / cols, height / rows) * (1 + OVERLAP))
    side = min(max(side, min_side), width, height)
    step = side * (1 - OVERLAP)
    cols = max(cols, math.ceil((width - side) / step) + 1) if width > side else 1
    rows = max(rows, math.ceil((height - side) / step) + 1) if height > side else 1
    xs = np.linspace(0, width - side, cols).round().astype(int) if cols > 1 else [(width - side) // 2]
    ys = np.linspace(0, height - side, rows).round().astype(int) if rows > 1 else [(height - side) // 2]
    return [Region(int(x), int(y), int(x) + side, int(y) + side, "grid") for y in ys for x in xs]


def square(cx: float, cy: float, side: float, width: int, height: int, min_side: int, kind: str) -> Region:
    """The square of ``side`` (at least ``min_side``, at most the frame's shorter side) centred on
    (cx, cy), shifted to lie inside the frame."""
    s = int(min(max(math.ceil(side / 4) * 4, min_side), width, height))
    x0 = int(min(max(round(cx - s / 2), 0), width - s))
    y0 = int(min(max(round(cy - s / 2), 0), height - s))
    return Region(x0, y0, x0 + s, y0 + s, kind)


def cluster(boxes: np.ndarray, width: int, height: int, min_side: int, kind: str, grow: float = 2.0,
            zoom: float = 4.0) -> list[Region]:
    """Squares that show each box (N, 4) at least ``grow`` times its longer side and at most ``zoom``
    times smaller than the region, boxes near each other sharing one: largest box first, a box joins
    the first region whose square, grown to hold it, keeps every member within ``zoom``."""
    clusters: list[list[int]] = []
    sides = np.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]) if len(boxes) else np.zeros(0)

    def side_of(members: list[int]) -> float:
        b = boxes[members]
        extent = max(b[:, 2].max() - b[:, 0].min(), b[:, 3].max() - b[:, 1].min())
        return max(min_side, grow * sides[members].max(), extent + sides[members].max())

    for i in np.argsort(-sides, kind="stable"):
        for members in clusters:
            s = side_of(members + [i])
            if s <= max(min_side, zoom * sides[members + [i]].min()) and s <= min(width, height):
                members.append(i)
                break
        else:
            clusters.append([i])
    out = []
    for members in clusters:
        b = boxes[members]
        cx, cy = (b[:, 0].min() + b[:, 2].max()) / 2, (b[:, 1].min() + b[:, 3].max()) / 2
        out.append(square(cx, cy, side_of(members), width, height, min_side, kind))
    return out


def crop(image: np.ndarray, region: Region) -> np.ndarray:
    """The region's pixels (a view: no copy)."""
    return image[region.y0:region.y1, region.x0:region.x1]


def to_frame(dets: Detections, region: Region, frame_hw: tuple[int, int]) -> Detections:
    """A crop's detections in frame pixels: each box + the crop's (x0, y0), nothing else."""
    off = np.array([region.x0, region.y0, region.x0, region.y0], np.float32)
    return Detections(dets.xyxy + off, dets.scores, dets.class_ids, dets.labels, image_hw=frame_hw)


def _cut(xyxy: np.ndarray, region: Region, width: int, height: int, model_side: int) -> np.ndarray:
    """(N,) bool: the box touches an edge of the region that is not the frame's (it was cut there)."""
    tol = EDGE_PX * region.width / model_side
    inner = np.array([region.x0 > 0, region.y0 > 0, region.x1 < width, region.y1 < height])
    near = np.stack([xyxy[:, 0] <= region.x0 + tol, xyxy[:, 1] <= region.y0 + tol,
                     xyxy[:, 2] >= region.x1 - tol, xyxy[:, 3] >= region.y1 - tol], axis=1)
    return (near & inner).any(axis=1)


def within(boxes: np.ndarray, region: Region) -> np.ndarray:
    """(N,) bool: each box (N, 4) lies within the region."""
    return (boxes[:, 0] >= region.x0) & (boxes[:, 1] >= region.y0) & (boxes[:, 2] <= region.x1) & \
        (boxes[:, 3] <= region.y1)


def held_whole(boxes: np.ndarray, regions, width: int, height: int, model_side: int) -> np.ndarray:
    """(N,) bool: some region holds the box (N, 4) whole, not cut by any of its inner edges."""
    held = np.zeros(len(boxes), bool)
    for r in regions:
        held |= within(boxes, r) & ~_cut(boxes, r, width, height, model_side)
    return held


def inside_fraction(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M): the fraction of each box of a (N, 4) that lies inside each box of b (M, 4)."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = np.prod(np.clip(a[:, 2:] - a[:, :2], 0, None), axis=1)
    return inter / np.maximum(area, 1e-6)[:, None]


def merge(parts: list[tuple[Region, Detections]], frame_hw: tuple[int, int], iou_threshold: float,
          model_side: int, tiled: bool = False) -> Detections:
    """One frame's detections from its regions' (each region's boxes already in frame pixels).

    0. A box smaller than ``SMALL_PX`` at the model's scale, from a view coarser than another region
       of this frame that holds it whole, is dropped: that finer view saw the same pixels better.
    1. A box cut by a region's inner edge ranks at half its score, so the same object seen whole in
       another region wins the per-class NMS (IoU: the lower of ``iou_threshold`` and ``MERGE_IOU``,
       as views of one object at different scales overlap less); scores are kept as found.
    2. A cut box mostly inside a whole box of its class is a piece of that object: dropped.
    3. A box from a coarser view (a bigger region) holding two or more whole (uncut) boxes of its class
       found in finer views saw a group as one object (the whole frame's "person over everything"):
       dropped. Cut boxes do not count: a big object cut by fine tiles is pieces, not a group.
    4. ``tiled`` (regions that tile the frame with overlap, as ``grid``'s): a cut box left standing that
       another region held whole, uncut, was looked at whole there and not confirmed: dropped. (Where
       regions are placed around objects, as ``auto``'s, the cut view is often the only close one.)
    """
    height, width = frame_hw
    if not parts:
        return Detections(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int64), (),
                          image_hw=frame_hw)
    xyxy = np.concatenate([d.xyxy for _, d in parts]).astype(np.float32).reshape(-1, 4)
    scores = np.concatenate([d.scores for _, d in parts]).astype(np.float32)
    classes = np.concatenate([d.class_ids for _, d in parts]).astype(np.int64)
    labels = tuple(label for _, d in parts for label in d.labels)
    side = np.concatenate([np.full(len(d), r.width if r.kind != "full" else max(r.width, r.height), np.float32)
                           for r, d in parts])
    cut = np.concatenate([_cut(d.xyxy, r, width, height, model_side) for r, d in parts]) if len(scores) else \
        np.zeros(0, bool)
    # A small box from a coarse view was placed from a few of the model's pixels; where a finer region
    # of this frame covers it, that region's verdict stands.
    seen_px = np.maximum(xyxy[:, 2] - xyxy[:, 0], xyxy[:, 3] - xyxy[:, 1]) * model_side / side
    finer_cover = np.zeros(len(scores), bool)
    for r, _ in parts:
        if r.kind == "full":
            continue
        finer_cover |= within(xyxy, r) & (r.width < side)
    coarse_small = finer_cover & (seen_px < SMALL_PX)
    if coarse_small.any():
        xyxy, scores, classes, side, cut = (a[~coarse_small] for a in (xyxy, scores, classes, side, cut))
        labels = tuple(label for label, drop in zip(labels, coarse_small) if not drop)
    rank = np.where(cut, scores * CUT_PENALTY, scores)
    keep = batched_nms(xyxy, rank, classes, min(iou_threshold, MERGE_IOU))
    keep = keep[np.argsort(-scores[keep], kind="stable")]
    if len(keep) > 1:
        b, c = xyxy[keep], classes[keep]
        same = c[:, None] == c[None, :]
        np.fill_diagonal(same, False)
        inside = (inside_fraction(b, b) >= INSIDE) & same          # [i, j]: i lies inside j
        piece = (inside & ~cut[keep][None, :] & cut[keep][:, None]).any(axis=1)
        area = np.prod(b[:, 2:] - b[:, :2], axis=1)
        # only whole finer boxes make a group: pieces of one big object cut by fine tiles do not
        finer = inside & (side[keep][:, None] < side[keep][None, :]) & (area[:, None] < 0.5 * area[None, :])
        finer &= ~cut[keep][:, None]
        group = finer.sum(axis=0) >= 2
        keep = keep[~(piece | group)]
    if tiled and len(keep):
        keep = keep[~(cut[keep] & held_whole(xyxy[keep], [r for r, _ in parts], width, height, model_side))]
    return Detections(xyxy[keep], scores[keep], classes[keep], tuple(labels[i] for i in keep), image_hw=frame_hw)
