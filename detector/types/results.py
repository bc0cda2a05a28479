"""The envelope of one frame through the pipeline: the frame, what the models found, timings, analytics."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from detector.types.detections import Detections
from detector.types.frames import Frame
from detector.types.regions import Region

if TYPE_CHECKING:  # a type only: the envelope sits below the analytics that fill it
    from detector.analytics.counting import FrameAnalytics


@dataclass(frozen=True)
class Result:
    """A frame, its detections, per-stage latencies in ms (detect, classify, track, capture_to_result...),
    when tracking is on, what tracking and counting add (events, counts, trails), and the regions the
    detector looked at (``--regions``; not part of the detections file)."""

    frame: Frame
    detections: Detections
    latency_ms: dict = field(default_factory=dict)
    analytics: FrameAnalytics | None = None
    regions: tuple[Region, ...] = ()  # what the detector looked at (empty: the whole frame, or nothing new)

    def to_json(self, timings: bool = False) -> dict:
        """The frame's line in the detections file. Without ``timings`` it depends only on the input
        and the settings: two runs write the same bytes (a rerun, a batch worker, another machine)."""
        d = {"frame": self.frame.index, "pts_ms": round(self.frame.pts_ms, 3),
             "detections": self.detections.to_json()}
        if self.detections.frame_class is not None:
            d["classification"] = self.detections.frame_class.to_json()
        if self.analytics is not None:
            d["events"] = list(self.analytics.events)
            d["counts"] = self.analytics.counts
        if timings:
            d["latency_ms"] = {k: round(v, 2) for k, v in self.latency_ms.items()}
        return d
