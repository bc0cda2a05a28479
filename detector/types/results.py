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
class RegionState:
    """A fixed region's state (``--state NAME=box:model.onnx``) on this frame: ``state`` the held
    label (None until a first one has held), ``score`` its last probability, ``changed_from`` the
    state before when it changed on this frame (None as the first state is "no state": see ``changed``)."""

    name: str
    state: str | None
    score: float
    changed: bool = False
    changed_from: str | None = None
    box: tuple[int, int, int, int] | None = None  # the region, integer pixels x1, y1, x2, y2 (not in to_json)

    def to_json(self) -> dict:
        d = {"name": self.name, "state": self.state, "score": round(self.score, 4)}
        if self.changed:
            d["changed_from"] = self.changed_from
        return d


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
    states: tuple[RegionState, ...] = ()

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
        if self.states:
            d["states"] = [st.to_json() for st in self.states]
        if timings:
            d["latency_ms"] = {k: round(v, 2) for k, v in self.latency_ms.items()}
        return d
