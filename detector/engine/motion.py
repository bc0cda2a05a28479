"""Motion gating: frames in which nothing moved skip the detector (``--motion``).

A frame is compared with the last frame that went to the detector, as small blurred grey images: if
too few pixels changed, the scene is as it was when it was last detected, so its detections are
carried forward (a still object stays where it was; the tracker sees the same boxes). A full
detection runs at least every ``keyframe_s`` seconds of the stream's own time whatever the motion,
so an object that appears without the test noticing is found within that time.
"""
from __future__ import annotations

import cv2
import numpy as np

from detector.types.frames import Frame

WIDTH = 192           # pixels across the grey copy: a person far off in 768x576 is still ~8 px wide
PIXEL_DELTA = 18      # a grey level change below this is sensor noise and compression, not motion
CHANGED_FRACTION = 0.0015  # changed pixels (of the grey copy) that count as motion: ~50 of 192x144


class MotionGate:
    """Per stream. ``check(frame)`` -> True when the frame must go to the detector; call
    ``detected(frame)`` for each frame that did."""

    def __init__(self, keyframe_s: float = 2.0, live: bool = False):
        """``live``: time by capture (cameras, streams); files by their timestamps, so a rerun of the
        same file skips the same frames."""
        self.keyframe_s, self.live = keyframe_s, live
        self._ref: np.ndarray | None = None
        self._last_t = -1e18
        self._checked: tuple[Frame, np.ndarray] | None = None  # the grey copy check() made, for detected()

    def _grey(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        small = cv2.resize(image, (WIDTH, max(1, round(h * WIDTH / w))), interpolation=cv2.INTER_AREA)
        return cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)

    def _time(self, frame: Frame) -> float:
        return frame.captured_at if self.live else frame.pts_ms / 1000.0

    def check(self, frame: Frame) -> bool:
        if self._ref is None or self._time(frame) - self._last_t >= self.keyframe_s:
            return True
        grey = self._grey(frame.image)
        self._checked = (frame, grey)
        if grey.shape != self._ref.shape:  # the source changed size
            return True
        changed = np.count_nonzero(cv2.absdiff(grey, self._ref) > PIXEL_DELTA)
        return changed > CHANGED_FRACTION * grey.size

    def detected(self, frame: Frame) -> None:
        checked = self._checked
        self._ref = checked[1] if checked is not None and checked[0] is frame else self._grey(frame.image)
        self._checked = None
        self._last_t = self._time(frame)
