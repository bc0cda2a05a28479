"""The frames already seen, for a clip's pre-roll: bounded in frames and in bytes of pixels.

It holds references to the ``Result``s the pipeline made (their images are never written to), so
keeping a frame costs no copy; the bounds decide how far back a clip can reach.
"""
from __future__ import annotations

import collections

from detector.types.results import Result

RING_BYTES = 512 << 20  # 5 s of 1080p at 15 fps, or 12 s of 768x576 at 25 fps; beyond it a clip starts later


class FrameRing:
    def __init__(self, max_frames: int, max_bytes: int = RING_BYTES):
        self.max_frames, self.max_bytes = max(1, max_frames), max_bytes
        self._q: collections.deque[Result] = collections.deque()
        self._bytes = 0

    def add(self, result: Result) -> None:
        self._q.append(result)
        self._bytes += result.frame.image.nbytes
        while len(self._q) > 1 and (len(self._q) > self.max_frames or self._bytes > self.max_bytes):
            self._bytes -= self._q.popleft().frame.image.nbytes

    def since(self, pts_ms: float) -> list[Result]:
        """The frames held from ``pts_ms`` on (all of them if it reaches back further)."""
        return [r for r in self._q if r.frame.pts_ms >= pts_ms]

    def __len__(self) -> int:
        return len(self._q)
