"""One stream's side of the models, the core shared by every mode: frames -> models -> results.

    dets, share = engine.detect(models.snapshot(), images, n)   # one detector call (streams.Scheduler)
    result = engine.finish(snapshot, frame, dets[i], share)     # each frame through its stream's state

The window, file export and headless dump differ only in what consumes the results. Each frame
reads one consistent snapshot of the models (``models.Models``), which may change while it runs.
"""
from __future__ import annotations

import time

import numpy as np

from detector.engine.models import ModelSnapshot, Models
from detector.engine.stats import Stats
from detector.types.detections import Classification
from detector.types.frames import Frame
from detector.types.results import Result


class Engine:
    """One stream's side of the models: ``detect`` runs the (shared) detector on frames in one call,
    ``finish`` takes each frame through this stream's class filter, classifier and tracker."""

    def __init__(self, models: Models, stats: Stats, min_score: float | None = None):
        """``min_score``: this stream's own score threshold, above the shared detector's (several
        streams share one detector, which runs at the lowest of their thresholds)."""
        self.models, self.stats, self.min_score = models, stats, min_score

    def detect(self, m: ModelSnapshot, images: list[np.ndarray], frames: int) -> tuple[list, dict[str, float]]:
        """The detector on ``images`` (whole frames or their regions' crops) in one call: their
        Detections and each of the ``frames`` frames' share of the call's stage latencies (ms;
        "detect" is the whole call's)."""
        lat_batch: dict[str, float] = {}
        t0 = time.perf_counter()
        all_dets = m.detector.detect_batch(images, timings=lat_batch)
        share = {k: v / frames for k, v in lat_batch.items()}
        share["detect"] = (time.perf_counter() - t0) * 1000 / frames
        self.stats.count("detector_calls")
        return all_dets, share

    def finish(self, m: ModelSnapshot, frame: Frame, dets, lat: dict[str, float], inferred: bool = True,
               regions: tuple = ()) -> Result:
        """One frame's detections through this stream's class filter, classifier and tracker;
        ``inferred=False`` for detections carried over from an earlier frame (motion gating);
        ``regions``: the regions the detector looked at (empty: the whole frame)."""
        if self.min_score is not None and len(dets):
            dets = dets.filter(dets.scores >= self.min_score)
        if m.classes is not None:
            dets = dets.filter(np.isin(dets.class_ids, list(m.classes)))
        per_track = self.models.sub_labels is not None and m.classify == "boxes"
        if m.classifier is not None and m.classify != "off" and not per_track:
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
            dets, analytics = self.models.analytics.update(dets, frame.pts_ms / 1000.0, frame.image)
            lat["track"] = (time.perf_counter() - t2) * 1000
            if per_track:
                t3 = time.perf_counter()
                dets = self.models.sub_labels.update(frame.image, dets, frame.pts_ms / 1000.0)
                lat["classify"] = (time.perf_counter() - t3) * 1000
        states = ()
        if self.models.states:
            t4 = time.perf_counter()
            states = tuple(w.update(frame.image, frame.pts_ms / 1000.0) for w in self.models.states)
            lat["states"] = (time.perf_counter() - t4) * 1000
        lat["capture_to_result"] = (time.monotonic() - frame.captured_at) * 1000
        for stage in ("preprocess", "detect", "classify", "track"):
            if stage in lat:
                self.stats.add_latency(stage, lat[stage])
        self.stats.add_latency("age", lat["capture_to_result"])
        self.stats.count("inferred" if inferred else "motion_skipped")
        # every sink shows boxes cut to the frame; the raw ones stay the detector's (and the tracker's)
        return Result(frame, dets.clip(frame.image.shape[1], frame.image.shape[0]), lat, analytics, regions, states)
