"""How the camera moved between two frames: a similarity transform (rotation, uniform scale,
translation) from sparse optical flow on the background, as BoT-SORT's global motion compensation
estimates it, so a tracker can move its predictions with a panning or walking camera.

    motion = CameraMotion()
    warp = motion.estimate(bgr, xyxy, time_s)   # (2, 3) float64 frame pixels, or None: no measured motion

Corners are found on the previous frame outside its boxes (the moving objects would pull the
estimate along with them), followed into this frame with pyramidal Lucas-Kanade, and fitted by
RANSAC (``cv2.estimateAffinePartial2D``). Both frames are compared as grey copies at most
``WIDTH`` pixels across; the transform comes back in full-frame pixels. ``None`` when the camera
stood still (every frame corner moved by under ``STILL_PX`` of the copy's pixels: noise), when the
frame size changed, on the first frame, or when too few corners agree: callers then leave their
predictions as they are, so a fixed camera is tracked as without this stage. A camera that has
stood still for ``IDLE_AFTER_S`` is looked at every ``IDLE_EVERY_S`` only, two frames in a row (a
transform always spans one frame: tracks matched in the frames between already moved with the
camera); once it moves, every frame again.
"""
from __future__ import annotations

import cv2
import numpy as np

WIDTH = 320        # pixels across the grey copies compared
MIN_POINTS = 12    # corners that must agree on the transform
STILL_PX = 0.5     # a frame corner moving less than this (copy pixels) is a camera standing still
IDLE_AFTER_S = 2.0  # a camera still this long is looked at less often ...
IDLE_EVERY_S = 0.5  # ... this often


class CameraMotion:
    """One stream's estimator; keeps the previous grey copy and corner mask between calls."""

    def __init__(self, width: int = WIDTH):
        self.width = int(width)
        self.reset()

    def reset(self) -> None:
        self._prev: np.ndarray | None = None     # grey copy of the last frame kept
        self._prev_boxes = np.zeros((0, 4), np.float32)
        self._fresh = False                      # whether that frame is the one just before this one
        self._moved_at: float | None = None      # when the camera last moved (None: no frame yet)
        self._looked_at = -np.inf                # when an idle look last began

    def estimate(self, image: np.ndarray, boxes: np.ndarray, time_s: float) -> np.ndarray | None:
        """``image``: this frame, (H, W, 3) BGR, (H, W, 4) BGRA or (H, W) grey, uint8; ``boxes``: (N, 4)
        xyxy frame pixels of its objects (kept out of the next look's corners); ``time_s``: its time on
        the source's clock. Returns the (2, 3) transform taking a point of the previous frame to this
        one, in frame pixels, or None (see the module docstring)."""
        if self._moved_at is None:
            self._moved_at = time_s
        idle = time_s - self._moved_at >= IDLE_AFTER_S
        if idle and not self._fresh:
            if time_s - self._looked_at < IDLE_EVERY_S - 1e-6:
                return None  # a camera standing still: skipped, and nothing kept to compare with
            self._looked_at = time_s
            self._keep(image, boxes)  # the next frame is compared with this one
            return None
        prev, prev_boxes = self._prev, self._prev_boxes
        grey = self._keep(image, boxes)
        warp = self._measure(prev, prev_boxes, grey, image.shape[1])
        if warp is not None:
            self._moved_at = time_s
        self._fresh = time_s - self._moved_at < IDLE_AFTER_S  # idle again: skip until the next look
        return warp

    def _keep(self, image: np.ndarray, boxes: np.ndarray) -> np.ndarray:
        """This frame's grey copy (at most ``width`` across) and its boxes, as the next look's reference."""
        h, w = image.shape[:2]
        f = min(1.0, self.width / max(w, 1))
        if image.ndim == 2 or image.shape[2] == 1:
            grey = image.reshape(h, w).copy()  # (a copy: the caller may draw on its frame)
        else:
            grey = cv2.cvtColor(image, cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY)
        if f < 1.0:
            grey = cv2.resize(grey, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        self._prev, self._prev_boxes, self._fresh = grey, np.asarray(boxes, np.float32).reshape(-1, 4) * f, True
        return grey

    @staticmethod
    def _measure(prev: np.ndarray | None, prev_boxes: np.ndarray, grey: np.ndarray, width: int) -> np.ndarray | None:
        """The transform from ``prev`` to ``grey`` (grey copies; ``prev_boxes`` in its pixels), in the
        pixels of a frame ``width`` across, or None."""
        if prev is None or prev.shape != grey.shape:
            return None
        f = grey.shape[1] / width
        mask = np.full(prev.shape, 255, np.uint8)
        for x0, y0, x1, y1 in prev_boxes.round().astype(int):
            mask[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = 0
        pts = cv2.goodFeaturesToTrack(prev, maxCorners=150, qualityLevel=0.01, minDistance=8, mask=mask, blockSize=3)
        if pts is None or len(pts) < MIN_POINTS:
            return None
        nxt, status, _ = cv2.calcOpticalFlowPyrLK(prev, grey, pts, None, winSize=(15, 15), maxLevel=3)
        ok = status.reshape(-1) == 1
        if ok.sum() < MIN_POINTS:
            return None
        warp, inliers = cv2.estimateAffinePartial2D(pts[ok], nxt[ok], method=cv2.RANSAC, ransacReprojThreshold=1.0)
        if warp is None or inliers is None or int(inliers.sum()) < MIN_POINTS:
            return None
        gh, gw = grey.shape
        corners = np.array([[0, 0, 1], [gw, 0, 1], [0, gh, 1], [gw, gh, 1]], np.float64)
        if np.abs(corners @ warp.T - corners[:, :2]).max() < STILL_PX:
            return None
        warp = warp.astype(np.float64)
        warp[:, 2] /= f  # the linear part is the same at any scale; the shift is in copy pixels
        return warp


def warp_boxes(warp: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
    """(N, 4) xyxy boxes moved by a similarity ``warp`` (2, 3): centres transformed, sides scaled by
    the warp's scale (axis-aligned boxes stay axis-aligned; a camera's roll is small)."""
    xyxy = np.asarray(xyxy, np.float64).reshape(-1, 4)
    c = (xyxy[:, :2] + xyxy[:, 2:]) / 2
    half = (xyxy[:, 2:] - xyxy[:, :2]) / 2 * warp_scale(warp)
    c = c @ warp[:, :2].T + warp[:, 2]
    return np.concatenate([c - half, c + half], axis=1)


def warp_scale(warp: np.ndarray) -> float:
    """The uniform scale of a similarity transform (2, 3)."""
    return float(np.sqrt(abs(np.linalg.det(warp[:, :2]))))
