"""Other people's detector exports, in NumPy: the input geometry (stretch or letterbox) and the
decoders of the common output layouts, each giving boxes in the network input's pixels.

Geometry. An H x W frame goes into an h x w input either stretched (x scaled by w / W, y by h / H)
or letterboxed: scaled by ``r = min(h / H, w / W)`` to ``nw = round(W r)`` x ``nh = round(H r)``,
pasted at ``(left, top)`` = ``((w - nw) // 2, (h - nh) // 2)`` (centred) or ``(0, 0)`` (corner), the
rest filled with the pad value. ``InputGeometry.to_frame`` undoes either exactly: x from the input
is ``(x - left) * W / nw``, y ``(y - top) * H / nh`` (per axis, so rounding ``nw``, ``nh`` costs nothing).

Decoders (``decode(kind, outputs, params, input_hw)`` -> ``(xyxy (K, 4) in input pixels, scores (K,),
class ids (K,))``, before thresholds and NMS):

- ``centre_size``: one tensor (1, 4 + C, N) or (1, N, 4 + C): cx, cy, w, h in input pixels, then C
  class scores (no objectness); score = the best class's.
- ``yolox``: one tensor (1, N, 5 + C) of raw grid outputs over strides 8, 16, 32 (row-major grids,
  finest first): cx = (px + gx) * s, cy = (py + gy) * s, w = exp(pw) * s, h = exp(ph) * s;
  score = objectness * best class (both already through the sigmoid, as YOLOX exports them).
- ``detr``: class logits (1, Q, K) and boxes (1, Q, 4) normalised cx, cy, w, h; ``activation``
  "sigmoid" (every class scored on its own) or "softmax" (the last of the K classes is "no object").
- ``detr_postprocessed``: labels (1, Q), boxes (1, Q, 4) x1, y1, x2, y2 in the frame's pixels (the
  model was given the frame's size), scores (1, Q).
- ``ssd_postprocessed``: boxes (1, N, 4) normalised ymin, xmin, ymax, xmax (TF's convention), classes
  (1, N), scores (1, N), count (1,); ``class_offset`` added to the classes (TF exports count from 1).
- ``ssd_detection_output``: one tensor (1, 1, N, 7): image id, class, score, x1, y1, x2, y2 normalised.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from detector.ops.nms import batched_nms

DECODERS = ("centre_size", "yolox", "detr", "detr_postprocessed", "ssd_postprocessed", "ssd_detection_output")
# Decoders whose outputs are already final (no NMS by Lookout)
FINAL = ("detr", "detr_postprocessed", "ssd_postprocessed", "ssd_detection_output")
# Decoders whose boxes are normalised to the input (multiplied by its size before the geometry)
NORMALISED = ("detr", "ssd_postprocessed", "ssd_detection_output")


@dataclass(frozen=True)
class InputGeometry:
    """Where an H x W frame lands in the h x w input (see the module docstring)."""

    frame_hw: tuple[int, int]
    input_hw: tuple[int, int]
    letterbox: bool
    centred: bool = True

    @property
    def placed(self) -> tuple[int, int, int, int]:
        """(left, top, nw, nh): the frame's resized copy's place in the input."""
        (H, W), (h, w) = self.frame_hw, self.input_hw
        if not self.letterbox:
            return 0, 0, w, h
        r = min(h / H, w / W)
        nw, nh = max(1, round(W * r)), max(1, round(H * r))
        if not self.centred:
            return 0, 0, nw, nh
        return (w - nw) // 2, (h - nh) // 2, nw, nh

    def to_input(self, bgr: np.ndarray, pad: int) -> np.ndarray:
        """The h x w x 3 uint8 image the network sees (colour order as given)."""
        left, top, nw, nh = self.placed
        resized = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
        if (nw, nh) == (self.input_hw[1], self.input_hw[0]):
            return resized
        out = np.full((*self.input_hw, 3), pad, np.uint8)
        out[top:top + nh, left:left + nw] = resized
        return out

    def to_frame(self, xyxy: np.ndarray) -> np.ndarray:
        """Boxes (K, 4) in input pixels -> the frame's pixels (float32)."""
        left, top, nw, nh = self.placed
        (H, W) = self.frame_hw
        sx, sy = W / nw, H / nh
        out = np.empty_like(xyxy, dtype=np.float64)
        out[:, 0::2] = (xyxy[:, 0::2].astype(np.float64) - left) * sx
        out[:, 1::2] = (xyxy[:, 1::2].astype(np.float64) - top) * sy
        return out.astype(np.float32)


def _cxcywh(b: np.ndarray) -> np.ndarray:
    b = b.astype(np.float32)
    half = b[:, 2:4] / 2
    return np.concatenate([b[:, :2] - half, b[:, :2] + half], axis=1)


def yolox_grid(input_hw: tuple[int, int], strides=(8, 16, 32)) -> tuple[np.ndarray, np.ndarray]:
    """(grid (N, 2) cell x, y, stride (N,)) of YOLOX's outputs, finest stride first, row-major."""
    grids, steps = [], []
    for s in strides:
        gh, gw = input_hw[0] // s, input_hw[1] // s
        ys, xs = np.meshgrid(np.arange(gh), np.arange(gw), indexing="ij")
        grids.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        steps.append(np.full(gh * gw, s))
    return np.concatenate(grids).astype(np.float32), np.concatenate(steps).astype(np.float32)


def decode(kind: str, outputs: dict[str, np.ndarray], params: dict,
           input_hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One image's raw outputs (by role name, see ``runtime.onnx.foreign``) -> (xyxy (K, 4) in the
    input's pixels (the frame's for ``detr_postprocessed``), scores (K,) float32, class ids (K,) int64)."""
    h, w = input_hw
    if kind in ("centre_size", "yolox"):
        t = outputs["predictions"][0]
        if kind == "centre_size":
            if params.get("channels_first", True):
                t = t.T
            boxes, cls = t[:, :4], t[:, 4:]
            scores = cls.max(axis=1)
        else:
            grid, stride = yolox_grid(input_hw, params.get("strides", (8, 16, 32)))
            if len(grid) != len(t):
                raise ValueError(f"a YOLOX output of {len(t)} rows, but a {w}x{h} input has {len(grid)} grid cells")
            boxes = np.concatenate([(t[:, :2] + grid) * stride[:, None], np.exp(t[:, 2:4]) * stride[:, None]], axis=1)
            cls = t[:, 5:]
            scores = t[:, 4] * cls.max(axis=1)
        return _cxcywh(boxes), scores.astype(np.float32), cls.argmax(axis=1).astype(np.int64)
    if kind == "detr":
        logits, boxes = outputs["logits"][0].astype(np.float32), outputs["boxes"][0]
        if params.get("activation", "sigmoid") == "softmax":
            e = np.exp(logits - logits.max(axis=1, keepdims=True))
            probs = (e / e.sum(axis=1, keepdims=True))[:, :-1]
        else:
            probs = 1.0 / (1.0 + np.exp(-logits))
        xyxy = _cxcywh(boxes) * np.array([w, h, w, h], np.float32)
        return xyxy, probs.max(axis=1).astype(np.float32), probs.argmax(axis=1).astype(np.int64)
    if kind == "detr_postprocessed":
        return (outputs["boxes"][0].astype(np.float32), outputs["scores"][0].astype(np.float32),
                outputs["labels"][0].astype(np.int64))
    if kind == "ssd_postprocessed":
        n = int(np.asarray(outputs["count"]).reshape(-1)[0]) if "count" in outputs else outputs["boxes"].shape[1]
        yxyx = outputs["boxes"][0][:n].astype(np.float32)
        xyxy = yxyx[:, [1, 0, 3, 2]] * np.array([w, h, w, h], np.float32)
        ids = outputs["classes"][0][:n].astype(np.int64) + int(params.get("class_offset", 0))
        return xyxy, outputs["scores"][0][:n].astype(np.float32), ids
    if kind == "ssd_detection_output":
        rows = outputs["detections"].reshape(-1, 7)
        rows = rows[rows[:, 0] >= 0]  # the layer pads with image id -1
        xyxy = rows[:, 3:7].astype(np.float32) * np.array([w, h, w, h], np.float32)
        return xyxy, rows[:, 2].astype(np.float32), rows[:, 1].astype(np.int64) + int(params.get("class_offset", 0))
    raise ValueError(f"unknown decoder {kind!r}: expected one of {', '.join(DECODERS)}")


def select(xyxy: np.ndarray, scores: np.ndarray, ids: np.ndarray, score_threshold: float, iou_threshold: float,
           final: bool, max_detections: int = 300) -> np.ndarray:
    """Indices kept, best score first: above ``score_threshold``, then (unless the model's outputs
    are ``final``) per-class NMS at ``iou_threshold``."""
    keep = np.flatnonzero(scores >= score_threshold)
    if not final and len(keep):
        keep = keep[batched_nms(xyxy[keep], scores[keep], ids[keep], iou_threshold)]
    order = np.argsort(-scores[keep], kind="stable")
    return keep[order][:max_detections]
