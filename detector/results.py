"""What the models produce for one frame, handed to every sink."""
from __future__ import annotations

from dataclasses import dataclass, field

from .detections import Detections
from .frames import Frame


@dataclass(frozen=True)
class Result:
    """A frame, its detections, and per-stage latencies in ms (detect, classify, capture_to_result...)."""

    frame: Frame
    detections: Detections
    latency_ms: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        d = {"frame": self.frame.index, "pts_ms": round(self.frame.pts_ms, 3),
             "detections": self.detections.to_json()}
        if self.detections.frame_class is not None:
            d["classification"] = self.detections.frame_class.to_json()
        d["latency_ms"] = {k: round(v, 2) for k, v in self.latency_ms.items()}
        return d
