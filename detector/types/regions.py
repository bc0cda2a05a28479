"""The part of a frame the detector looked at: one square crop (or the whole frame)."""
from __future__ import annotations

from dataclasses import dataclass

KINDS = ("full", "grid", "object", "motion", "sweep")


@dataclass(frozen=True)
class Region:
    """A crop of the frame given to the detector on its own.

    x0, y0, x1, y1: integer pixel corners in the frame (x right, y down; x1/y1 are the far edges, so
    the whole W x H frame is ``Region(0, 0, W, H, "full")``). Every region but "full" is a square of
    side ``x1 - x0`` at least the model's input side, inside the frame. kind: why it was chosen: "full"
    (the whole frame), "grid" (a fixed tile), "object" (around objects already seen), "motion" (around
    what moved) or "sweep" (the tile visited this frame to find what never moved).
    """

    x0: int
    y0: int
    x1: int
    y1: int
    kind: str = "grid"

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def to_json(self) -> dict:
        return {"xyxy": [self.x0, self.y0, self.x1, self.y1], "kind": self.kind}
