"""State classification: a classifier of your own classes (``lookout train``: "open" / "closed",
"empty" / "occupied") on a fixed region of the frame, when something moved there and at an interval,
its answer held for a few checks before it counts as a change (no flicker).

    --state garage=0.1,0.2,0.4,0.6:garage.onnx   (fractions of the frame, or pixels)

The region is looked at on the first frame, then whenever its pixels changed (mean absolute
difference of a small grey copy against the last check's above ``motion``), on every frame while a
new answer waits to be held, and at least every ``interval_s`` seconds. A label becomes the state
once it is the top answer ``hold`` checks in a row; the change is on ``Result.states`` (and becomes
a "state" event with from/to and a snapshot where --events is on, and an MQTT topic and Home
Assistant sensor where --mqtt is). Every frame's ``RegionState`` carries the region's pixel box,
which the outputs and the window draw with the state.
"""
from __future__ import annotations

import re

import cv2
import numpy as np

from detector.types.results import RegionState

_SPEC = re.compile(r"^(?P<name>[A-Za-z0-9_.-]+)=(?P<box>[^:]+):(?P<model>.+)$")


def parse_state(spec: str) -> tuple[str, tuple[float, float, float, float], str]:
    """``NAME=x1,y1,x2,y2:FILE.onnx`` -> (name, box, path); ValueError (one line) when malformed."""
    m = _SPEC.match(spec.strip())
    box = None
    if m:
        try:
            box = tuple(float(v) for v in m["box"].split(","))
        except ValueError:
            box = None
    if not m or box is None or len(box) != 4 or not all(np.isfinite(box)):
        raise ValueError(f"--state {spec!r}: expected NAME=x1,y1,x2,y2:MODEL.onnx (pixels, or fractions of the "
                         f"frame when all four are in 0..1), e.g. garage=0.1,0.2,0.4,0.6:garage.onnx")
    x1, y1, x2, y2 = box
    if not (x2 > x1 and y2 > y1 and min(box) >= 0):
        raise ValueError(f"--state {m['name']}: box {list(box)} is empty or negative; expected x1 < x2 and y1 < y2, >= 0")
    return m["name"], box, m["model"]


def region_pixels(box, width: int, height: int) -> tuple[int, int, int, int]:
    """The region in integer pixels of a ``width`` x ``height`` frame; ValueError when any of it lies
    outside the frame (a region drawn for another camera or resolution)."""
    fractions = all(0 <= v <= 1 for v in box)
    x1, y1, x2, y2 = (box[0] * width, box[1] * height, box[2] * width, box[3] * height) if fractions else box
    if x2 > width or y2 > height:
        raise ValueError(f"--state region {list(box)} reaches outside the {width}x{height} frame; give pixels "
                         f"inside it or fractions of the frame (0..1)")
    return int(round(x1)), int(round(y1)), int(round(x2)), int(round(y2))


class StateWatcher:
    """One region's state: ``update(image, t)`` each frame -> ``RegionState``."""

    def __init__(self, name: str, box, classifier, interval_s: float = 5.0, hold: int = 3, motion: float = 6.0):
        self.name, self.box, self.classifier = name, box, classifier
        self.interval_s, self.hold, self.motion = interval_s, hold, motion
        self.state: str | None = None
        self.score = 0.0
        self._pixels = None
        self._last_grey = None
        self._last_t = -1e9
        self._candidate: str | None = None
        self._streak = 0
        self.checks = 0

    def fresh(self) -> "StateWatcher":
        """A watcher of the same region with the same (loaded) classifier and settings, nothing seen yet."""
        return StateWatcher(self.name, self.box, self.classifier, self.interval_s, self.hold, self.motion)

    def _moved(self, grey: np.ndarray) -> bool:
        return self._last_grey is None or float(cv2.absdiff(grey, self._last_grey).mean()) > self.motion

    def update(self, image: np.ndarray, t: float) -> RegionState:
        if self._pixels is None:
            self._pixels = region_pixels(self.box, image.shape[1], image.shape[0])
        x1, y1, x2, y2 = self._pixels
        crop = image[y1:y2, x1:x2]
        grey = cv2.resize(cv2.cvtColor(crop, cv2.COLOR_BGR2GRAY), (32, 32), interpolation=cv2.INTER_AREA)
        # a new answer is looked at again on the next frames, not only on motion: someone who walked
        # out leaves a still region, and its change would otherwise wait for the interval
        pending = self._candidate is not None and self._candidate != self.state
        if not (pending or self._moved(grey) or t - self._last_t >= self.interval_s):
            return RegionState(self.name, self.state, self.score, box=self._pixels)
        self._last_grey, self._last_t = grey, t
        self.checks += 1
        label, p = self.classifier.classify(crop, k=1)[0]
        if label == self._candidate:
            self._streak += 1
        else:
            self._candidate, self._streak = label, 1
        if label == self.state:
            self.score = p
        if self._streak >= self.hold and label != self.state:
            before, self.state, self.score = self.state, label, p
            return RegionState(self.name, self.state, self.score, True, before, self._pixels)
        return RegionState(self.name, self.state, self.score, box=self._pixels)


def state_watchers(config, device: str = "cpu") -> tuple[StateWatcher, ...]:
    """The stream's watchers for ``config.states`` (classifiers loaded: ValueError, one line, for a
    file that is not a lookout train model)."""
    if not config.states:
        return ()
    from detector.runtime.loader import load_classifier
    loaded: dict[str, object] = {}
    out = []
    for name, box, path in config.states:
        if path not in loaded:
            loaded[path] = load_classifier(path, device=device)
        out.append(StateWatcher(name, box, loaded[path], config.state_interval, config.state_hold))
    return tuple(out)
