"""The frame envelope that travels the pipeline."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Frame:
    """One captured frame.

    image: HxWx3 uint8 BGR, owned by this frame (sinks copy before drawing).
    index: position in the source (0-based; counts dropped and bad frames too, so gaps show drops).
    pts_ms: the source's timestamp. captured_at: ``time.monotonic()`` when the capture thread got it.
    source: the source's description. stream: the stream's name in a run of several ("" alone).
    """

    image: np.ndarray
    index: int
    pts_ms: float
    captured_at: float
    source: str
    stream: str = ""
