"""Video encoding through PyAV (FFmpeg's libraries): H.264 / HEVC files that browsers and phones play.

OpenCV's writer only offers MPEG-4 Part 2 in .mp4 without a GPL build, which browsers, chat apps and
QuickTime refuse. PyAV's wheels ship FFmpeg with libx264 and libx265; which encoders exist is
checked at run time (``encoder_for``), and a missing one falls back with one warning.

Frames are BGR uint8 (H, W, 3); they are encoded as yuv420p (what players expect). Timestamps:
``pts_s`` per frame in seconds from the first, so a camera's variable rate is kept; the stream's
nominal rate is the source's (or the measured one for live sources).
"""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np

# --codec name -> FFmpeg encoders to try, best first
ENCODERS = {"h264": ("libx264",), "hevc": ("libx265",), "mpeg4": ("mpeg4",), "mjpeg": ("mjpeg",)}
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska"}


def pyav_available() -> bool:
    try:
        import av  # noqa: F401
        return True
    except ImportError:
        return False


def encoder_for(codec: str) -> str | None:
    """The FFmpeg encoder PyAV has for ``codec`` (h264, hevc, mpeg4, mjpeg), None if none."""
    if codec not in ENCODERS:
        raise ValueError(f"expected --codec one of {', '.join(ENCODERS)}, got {codec!r}")
    try:
        import av
    except ImportError:
        return None
    return next((e for e in ENCODERS[codec] if e in av.codecs_available), None)


class AvWriter:
    """One video file: ``write(bgr, pts_s)`` then ``close()``. Raises OSError / av errors on failure."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, encoder: str, crf: int | None = None,
                 bitrate: int | None = None, container: str | None = None):
        import av
        self._av = av
        w, h = size
        options = {"movflags": "+faststart"} if (container or CONTAINERS.get(path.suffix.lower())) in ("mp4", "mov") else {}
        self.container = av.open(str(path), mode="w", format=container or CONTAINERS.get(path.suffix.lower()),
                                  options=options)
        rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
        self.stream = self.container.add_stream(encoder, rate=rate)
        self.stream.width, self.stream.height = w - w % 2, h - h % 2  # yuv420p needs even sizes
        self.stream.pix_fmt = "yuvj420p" if encoder == "mjpeg" else "yuv420p"
        self.stream.time_base = Fraction(1, 90000) if encoder != "mjpeg" else rate ** -1
        opts: dict[str, str] = {}
        if encoder in ("libx264", "libx265"):
            opts["preset"] = "veryfast"
            if bitrate:
                self.stream.bit_rate = int(bitrate)
            else:
                opts["crf"] = str(23 if crf is None else crf)
            if encoder == "libx265":
                opts["x265-params"] = "log-level=error"
        elif bitrate:
            self.stream.bit_rate = int(bitrate)
        self.stream.options = opts
        self._last_pts = -1
        self.frames = 0

    def write(self, bgr: np.ndarray, pts_s: float) -> None:
        w, h = self.stream.width, self.stream.height
        frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:h, :w]), format="bgr24")
        pts = int(round(pts_s / self.stream.time_base))
        frame.pts = max(pts, self._last_pts + 1)  # strictly increasing, even if the source repeats a time
        self._last_pts = frame.pts
        frame.time_base = self.stream.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)
        self.frames += 1

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):  # flush the encoder's delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()
