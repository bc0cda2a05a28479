"""The loaded models and the settings that may change while running (thresholds, class filter,
classifier mode, even the models themselves, from another thread): ``Models``, read one consistent
``ModelSnapshot`` at a time. Each stream's ``stream_engine.Engine`` takes its frames through them.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Iterable

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
                 top_k: int = 5, analytics=None, sub_labels=None, states=()):
        """``analytics``: a ``counting.Analytics`` (tracker, lines, zones) for the stream, or None;
        ``sub_labels``: a ``sub_labels.SubLabeller`` (--classify-labels: the classifier on tracks of
        some labels, after the tracker, instead of on every box), or None; ``states``: the stream's
        ``states.StateWatcher``s (--state regions)."""
        if classify not in CLASSIFY_MODES:
            raise ValueError(f"expected --classify one of {', '.join(CLASSIFY_MODES)}, got {classify!r}")
        self._lock = threading.Lock()
        self._detector, self._classifier, self._classify, self._top_k = detector, classifier, classify, top_k
        self._class_names = None
        self._classes = None
        self.set_classes(classes)
        self.analytics = analytics
        self.sub_labels = sub_labels
        self.states = tuple(states)

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
