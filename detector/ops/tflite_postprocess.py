"""TFLite's ``TFLite_Detection_PostProcess`` op (fast variant), reproduced in NumPy.

Input: the quantised model's raw outputs as uint8 values, box encodings (N, A, 4) ``[ty, tx, th, tw]``
and class logits (N, A, C+1) with background at 0. Steps, as the interpreter takes them:
logistic through XNNPACK's 256-entry table, dequantise, per anchor the best class (first on ties),
keep scores >= the op's threshold, sort them (stable, best first), decode boxes against the
centre-size anchors in float64 rounded to float32, greedy class-agnostic NMS (IoU > threshold
suppresses) until ``max_detections`` are kept. Boxes are ``[ymin, xmin, ymax, xmax]`` normalised,
not clipped (the op does not clip).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from detector.types.detections import Detections
from detector.ops.postprocess import PostprocessConfig


def logistic_table(in_scale: float, in_zero_point: float, out_scale: float, out_zero_point: float) -> np.ndarray:
    """uint8 -> uint8 sigmoid as XNNPACK tabulates it: float32 sigmoid of each dequantised input,
    divided by the output scale, rounded to nearest even, clamped to 0..255. (256,) uint8."""
    f32 = np.float32
    x = f32(in_scale) * (np.arange(256, dtype=f32) - f32(in_zero_point))
    y = f32(1) / (f32(1) + np.exp(-x))
    q = np.rint(y * (f32(1) / f32(out_scale))) + f32(out_zero_point)
    return np.clip(q, 0, 255).astype(np.uint8)


def decode_center_size(enc: np.ndarray, anchors: np.ndarray, scales: tuple[float, ...]) -> np.ndarray:
    """enc (A, 4) float32 ``[ty, tx, th, tw]``, anchors (A, 4) float32 ``[y, x, h, w]`` -> (A, 4) float32
    ``[ymin, xmin, ymax, xmax]``, computed in float64 and rounded once, as the op does."""
    e, a = enc.astype(np.float64), anchors.astype(np.float64)
    sy, sx, sh, sw = (float(np.float32(s)) for s in scales)
    yc = (e[:, 0] / sy * a[:, 2] + a[:, 0]).astype(np.float32)
    xc = (e[:, 1] / sx * a[:, 3] + a[:, 1]).astype(np.float32)
    half_h = (0.5 * np.exp(e[:, 2] / sh) * a[:, 2]).astype(np.float32)
    half_w = (0.5 * np.exp(e[:, 3] / sw) * a[:, 3]).astype(np.float32)
    return np.stack([yc - half_h, xc - half_w, yc + half_h, xc + half_w], axis=1)


def _iou_one_to_many(box: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """float32 IoU of one [ymin, xmin, ymax, xmax] box with each row, 0 where either area is <= 0."""
    f32 = np.float32
    area_i = (box[2] - box[0]) * (box[3] - box[1])
    area_j = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    ih = np.maximum(np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]), f32(0))
    iw = np.maximum(np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]), f32(0))
    inter = ih * iw
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = inter / (area_i + area_j - inter)
    return np.where((area_i <= 0) | (area_j <= 0), f32(0), iou).astype(f32)


def fast_nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float, max_detections: int) -> np.ndarray:
    """Indices kept by the op's greedy single-class NMS over candidates ``scores`` (K,) in anchor
    order with their ``boxes`` (K, 4), best first."""
    order = np.argsort(-scores, kind="stable")  # ties keep anchor order, as std::stable_sort
    active = np.ones(len(order), dtype=bool)
    keep: list[int] = []
    i = 0
    while len(keep) < max_detections:
        rest = np.flatnonzero(active[i:])
        if not len(rest):
            break
        i += int(rest[0])
        keep.append(int(order[i]))
        active[i] = False
        later = i + 1 + np.flatnonzero(active[i + 1:])
        if len(later):
            iou = _iou_one_to_many(boxes[order[i]], boxes[order[later]])
            active[later[iou > np.float32(iou_threshold)]] = False
    return np.asarray(keep, dtype=np.int64)


@dataclass(frozen=True)
class TFLiteSSDPostprocess:
    """The op's settings and the grids its inputs are on; call it like ``postprocess.to_detections``.

    ``anchors`` (A, 4) float32 centre-size; ``box_grid`` / ``logit_grid`` / ``score_grid``: (scale,
    zero point) of the box concatenation, the class concatenation (the logistic's input) and the
    scores (its output); ``scales``: the box coder's (y, x, h, w); ``max_detections``: the op's.
    """

    anchors: np.ndarray
    scales: tuple[float, float, float, float]
    box_grid: tuple[float, float]
    logit_grid: tuple[float, float]
    score_grid: tuple[float, float]
    score_threshold: float
    max_detections: int

    def __post_init__(self):
        object.__setattr__(self, "_table", logistic_table(*self.logit_grid, *self.score_grid))

    def select(self, box_q: np.ndarray, logits_q: np.ndarray, iou_threshold: float, above: float | None = None):
        """One image: box_q (A, 4), logits_q (A, C+1) uint8 values -> (boxes (K, 4) normalised yxyx,
        class indices (K,) from 0 without background, scores (K,) float32), as the op outputs them.

        ``above``: keep only what scores above it, exactly as filtering the op's output would (greedy
        NMS lets only higher scores suppress, so candidates below it change nothing above it), but
        without sorting and decoding the ~1900 weak anchors.
        """
        f32 = np.float32
        s_scale, s_zp = self.score_grid
        logits_q = np.asarray(logits_q, dtype=np.uint8)[:, 1:]
        # The table is monotonic, so an anchor's best score is the table at its largest logit.
        best = (self._table[logits_q.max(axis=1)].astype(f32) - f32(s_zp)) * f32(s_scale)
        keep = best >= f32(self.score_threshold)
        if above is not None:
            keep &= best > f32(above)
        idx = np.flatnonzero(keep)
        # The op's class: the first of the equal best scores (ArgMaxVector), after the table.
        cls = self._table[logits_q[idx]].argmax(axis=1)
        b_scale, b_zp = self.box_grid
        enc = (np.asarray(box_q, dtype=f32)[idx] - f32(b_zp)) * f32(b_scale)
        boxes = decode_center_size(enc, self.anchors[idx], self.scales)
        kept = fast_nms(boxes, best[idx], iou_threshold, self.max_detections)
        return boxes[kept], cls[kept], best[idx][kept]

    def __call__(self, box_q: np.ndarray, logits_q: np.ndarray, config: PostprocessConfig,
                 image_hws: list[tuple[int, int]], labels: tuple[str, ...]) -> list[Detections]:
        """Raw outputs of N images -> one ``Detections`` each: the op's detections above
        ``config.score_threshold``, xyxy in that image's pixels; class ids in the model's numbering
        (background 0, so the op's index + 1)."""
        out = []
        for b, l, (h, w) in zip(box_q, logits_q, image_hws):
            yxyx, cls, sc = self.select(b, l, config.iou_threshold, above=config.score_threshold)
            xyxy = np.stack([yxyx[:, 1] * w, yxyx[:, 0] * h, yxyx[:, 3] * w, yxyx[:, 2] * h], axis=1)
            ids = cls.astype(np.int64) + 1
            out.append(Detections(xyxy.astype(np.float32).reshape(-1, 4), sc.astype(np.float32), ids,
                                  tuple(labels[i] for i in ids), image_hw=(h, w)))
        return out
