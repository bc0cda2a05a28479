"""The generator-style core shared by every mode: frames -> models -> results.

    for result in Engine(models, stats).process(frames_from(capture, stop)):
        sink.write(result, ...)

The window, file export and headless dump differ only in what consumes the results. Model settings
(thresholds, class filter, even the models themselves) may change from another thread while it
runs; each frame reads one consistent snapshot of them.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Iterable, Iterator

import numpy as np

from detector.engine.capture import QUEUE_BYTES, CaptureThread, EndOfStream
from detector.types.detections import Classification
from detector.types.frames import Frame
from detector.types.results import Result
from detector.engine.stats import Stats
from detector.runtime.base import Detector
from detector.runtime.classifier import Classifier

CLASSIFY_MODES = ("off", "frame", "boxes")


@dataclass(frozen=True)
class ModelSnapshot:
    detector: Detector
    classifier: Classifier | None
    classes: frozenset[int] | None  # class ids to keep; None keeps all
    classify: str
    top_k: int


class Models:
    """The models and the settings that may change while running, behind one lock."""

    def __init__(self, detector: Detector, classifier: Classifier | None = None, classify: str = "off", classes: Iterable[str] | None = None,
                 top_k: int = 5, analytics=None):
        """``analytics``: a ``counting.Analytics`` (tracker, lines, zones) for the stream, or None."""
        if classify not in CLASSIFY_MODES:
            raise ValueError(f"expected --classify one of {', '.join(CLASSIFY_MODES)}, got {classify!r}")
        self._lock = threading.Lock()
        self._detector, self._classifier, self._classify, self._top_k = detector, classifier, classify, top_k
        self._class_names = None
        self._classes = None
        self.set_classes(classes)
        self.analytics = analytics

    def snapshot(self) -> ModelSnapshot:
        with self._lock:
            return ModelSnapshot(self._detector, self._classifier, self._classes, self._classify, self._top_k)

    @property
    def detector(self) -> Detector:
        return self.snapshot().detector

    def set_thresholds(self, conf: float | None = None, iou: float | None = None) -> None:
        with self._lock:
            if conf is not None:
                self._detector.score_threshold = conf
            if iou is not None:
                self._detector.iou_threshold = iou

    def set_classes(self, names: Iterable[str] | None) -> None:
        """Keep only these class names: None keeps all, an empty list none. Unknown names are a
        ValueError listing the known ones."""
        with self._lock:
            self._class_names = None if names is None else [n.strip() for n in names if n.strip()]
            self._classes = self._resolve(self._detector, self._class_names)

    @staticmethod
    def _resolve(detector: Detector, names) -> frozenset[int] | None:
        if names is None:
            return None
        known = {label: i for i, label in enumerate(detector.labels) if i}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise ValueError(f"unknown class {', '.join(map(repr, unknown))} for model {detector.name!r}: "
                             f"expected some of {', '.join(sorted(known))}")
        return frozenset(known[n] for n in names)

    def set_classify(self, mode: str, classifier=None) -> None:
        if mode not in CLASSIFY_MODES:
            raise ValueError(f"expected classify mode one of {', '.join(CLASSIFY_MODES)}, got {mode!r}")
        with self._lock:
            self._classify = mode
            if classifier is not None:
                self._classifier = classifier

    def swap_detector(self, detector: Detector) -> None:
        """Use ``detector`` from the next frame on, keeping the current thresholds and class filter."""
        with self._lock:
            detector.score_threshold = self._detector.score_threshold
            detector.iou_threshold = self._detector.iou_threshold
            try:
                classes = self._resolve(detector, self._class_names)
            except ValueError:  # the new model lacks a filtered class: show everything
                self._class_names, classes = None, None
            self._detector, self._classes = detector, classes


def take_frame(capture: CaptureThread, stats: Stats, timeout: float = 0.2) -> Frame | None:
    """The capture's next frame (None on timeout), counting the frames it dropped since the last
    call into ``stats`` (a running count across sources). EndOfStream once it has ended or failed."""
    try:
        return capture.buffer.get(timeout=timeout)
    finally:
        dropped = capture.buffer.new_drops()
        if dropped > 0:
            stats.count("dropped", dropped)


def frames_from(capture: CaptureThread, stop: threading.Event, stats: Stats) -> Iterator[Frame]:
    """Frames from a capture thread until the source ends or ``stop`` is set.

    Raises the capture thread's error (a lost stream, say) once its buffered frames are used up.
    """
    while not stop.is_set():
        try:
            frame = take_frame(capture, stats)
        except EndOfStream:
            break
        if frame is not None:
            yield frame
    if capture.error is not None and not stop.is_set():
        raise capture.error


class Engine:
    """Runs the models on frames. ``process`` is a generator: one Result per frame, in order."""

    def __init__(self, models: Models, stats: Stats):
        self.models, self.stats = models, stats

    def process(self, frames: Iterable[Frame], batch: int = 1) -> Iterator[Result]:
        """Results in frame order. ``batch`` > 1 runs the detector on that many frames at once (the
        last batch may be shorter; a batch ends early once its frames hold ``QUEUE_BYTES``): for
        lossless files, where every frame is waited for anyway; a live source would wait for frames it
        should not, so it keeps 1."""
        if batch <= 1:
            for frame in frames:
                yield self.infer(frame)
            return
        pending: list[Frame] = []
        for frame in frames:
            pending.append(frame)
            # big frames batch fewer: 4 frames of 8K would hold 400 MB for no speed-up
            if len(pending) == batch or sum(f.image.nbytes for f in pending) >= QUEUE_BYTES:
                yield from self.infer_batch(pending)
                pending = []
        if pending:
            yield from self.infer_batch(pending)

    def infer(self, frame: Frame) -> Result:
        return self.infer_batch([frame])[0]

    def infer_batch(self, frames: list[Frame]) -> list[Result]:
        """One detector call for all ``frames`` (one settings snapshot for them all), then the class
        filter, the classifier and tracking frame by frame, in order. A frame's "detect" latency is
        its share of the batch's time."""
        m = self.models.snapshot()
        lat_batch: dict[str, float] = {}
        t0 = time.perf_counter()
        all_dets = m.detector.detect_batch([f.image for f in frames], timings=lat_batch)
        share = {k: v / len(frames) for k, v in lat_batch.items()}
        share["detect"] = (time.perf_counter() - t0) * 1000 / len(frames)
        results = []
        for frame, dets in zip(frames, all_dets):
            lat = dict(share)
            if m.classes is not None:
                dets = dets.filter(np.isin(dets.class_ids, list(m.classes)))
            if m.classifier is not None and m.classify != "off":
                t1 = time.perf_counter()
                if m.classify == "frame":
                    dets = dets.with_classes(frame_class=Classification(tuple(m.classifier.classify(frame.image, k=m.top_k))))
                elif len(dets):
                    per_box = m.classifier.classify_boxes(frame.image, dets.xyxy, k=1)
                    dets = dets.with_classes(box_classes=tuple(Classification(tuple(p)) for p in per_box))
                lat["classify"] = (time.perf_counter() - t1) * 1000
            analytics = None
            if self.models.analytics is not None:
                t2 = time.perf_counter()
                dets, analytics = self.models.analytics.update(dets, frame.captured_at)
                lat["track"] = (time.perf_counter() - t2) * 1000
            lat["capture_to_result"] = (time.monotonic() - frame.captured_at) * 1000
            for stage in ("preprocess", "detect", "classify", "track"):
                if stage in lat:
                    self.stats.add_latency(stage, lat[stage])
            self.stats.add_latency("age", lat["capture_to_result"])
            self.stats.count("inferred")
            results.append(Result(frame, dets, lat, analytics))
        return results
