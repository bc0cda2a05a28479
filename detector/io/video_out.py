"""Video encoders behind ``VideoSink``: PyAV (FFmpeg's libraries) for H.264 / HEVC, OpenCV as fallback.

OpenCV's headless wheel writes only MPEG-4 Part 2 into .mp4, which browsers, chat apps and QuickTime
refuse. PyAV's wheels ship FFmpeg with libx264 and libx265; which encoders exist is checked at run
time (``pick_encoder``), and a missing one falls back to OpenCV with one warning.

Every writer takes BGR uint8 frames (H, W, 3) with a timestamp ``pts_s`` in seconds from the first
frame: ``write(bgr, pts_s)``, then ``close()``. PyAV keeps the timestamps (a camera's variable rate
survives); OpenCV's writer can only space frames evenly at the nominal rate.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

# --codec name -> FFmpeg encoders to try, best first
ENCODERS = {"h264": ("libx264",), "hevc": ("libx265",), "mpeg4": ("mpeg4",), "mjpeg": ("mjpeg",)}
CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".avi": "avi"}
DEFAULT_CODEC = {".mp4": "h264", ".m4v": "h264", ".mov": "h264", ".mkv": "h264", ".avi": "mjpeg"}
CV_FOURCC = {"mpeg4": "mp4v", "mjpeg": "MJPG"}
DEFAULT_CRF = 23  # x264's own default: visually clean at a third of MPEG-4 Part 2's size on vtest
# x264/x265 speed presets, fastest first. veryfast by default: ~2x mp4v's cost, a third of its size;
# ultrafast gave a lossless vtest.avi -> H.264 run 112.9 vs 99.0 fps on 2 cores for 2.7x the file.
PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow")
DEFAULT_PRESET = "veryfast"
PRESET_ENCODERS = ("libx264", "libx265")  # the encoders --crf and --preset apply to
LIVE_MOVFLAGS = "+frag_every_frame+empty_moov+default_base_moof"
LIVE_KEY_S = 1.0  # a live recording's key frame interval in seconds, at most


@dataclass(frozen=True)
class EncoderChoice:
    """What will write the file: ``library`` "pyav" or "opencv", the FFmpeg encoder or FourCC, and
    ``fallback`` (a sentence for the user) when it is not what was asked for."""

    codec: str
    library: str
    encoder: str
    fallback: str | None = None


def _pyav_encoders() -> set[str] | None:
    try:
        import av
    except ImportError:
        return None
    return set(av.codecs_available)


def pick_encoder(path: Path, codec: str | None) -> EncoderChoice:
    """The encoder for ``path`` (its suffix picks the container) and ``codec`` (None: the container's
    default). Raises ValueError for an unknown codec name."""
    suffix = path.suffix.lower()
    want = codec or DEFAULT_CODEC[suffix]
    if want not in ENCODERS:
        raise ValueError(f"expected --codec one of {', '.join(ENCODERS)}, got {codec!r}")
    if suffix == ".avi" and want in ("h264", "hevc"):
        raise ValueError(f"AVI files cannot hold {want.upper()} with its timestamps; write .mp4 or .mkv, or use "
                         f"--codec mjpeg or mpeg4 for .avi")
    if want == "mjpeg" and codec is None:  # .avi keeps OpenCV's MJPEG writer: plays everywhere .avi does
        return EncoderChoice("mjpeg", "opencv", "MJPG")
    available = _pyav_encoders()
    if available is not None:
        for enc in ENCODERS[want]:
            if enc in available:
                return EncoderChoice(want, "pyav", enc)
    why = "PyAV is not installed (pip install av)" if available is None else f"this FFmpeg build has no {want} encoder"
    fb = "mjpeg" if suffix == ".avi" else "mpeg4"
    return EncoderChoice(fb, "opencv", CV_FOURCC[fb],
                         fallback=f"{why}; wrote {path.name} as {fb.upper()} ({CV_FOURCC[fb]}) instead of "
                                  f"{want.upper()}, which some players (browsers, QuickTime) refuse")


class CvWriter:
    """OpenCV's writer: constant rate, timestamps ignored."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, fourcc: str):
        self._w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*fourcc), float(fps), size)
        if not self._w.isOpened():
            raise OSError(0, "OpenCV could not open a writer")

    def write(self, bgr: np.ndarray, pts_s: float) -> None:
        self._w.write(bgr)

    def close(self) -> None:
        self._w.release()


class AvWriter:
    """One file through PyAV: yuv420p (what players expect), timestamps at 1/90000 s (1 ms for MPEG-4)."""

    def __init__(self, path: Path, size: tuple[int, int], fps: float, encoder: str, crf: int | None = None,
                 bitrate: int | None = None, preset: str | None = None, live: bool = False):
        """``live``: a camera's recording, which must survive a kill: MP4/MOV are written fragmented
        (``LIVE_MOVFLAGS``: every frame its own fragment, on disk once the next frame comes), with no
        encoder look-ahead or B-frames and a key frame at least every ``LIVE_KEY_S``, so what is on
        disk plays up to a frame or two before any moment (tools/live_mp4_compare.py; docs/faults.md).
        Otherwise the index goes first (faststart), written when the file is closed."""
        import av
        self._av = av
        fmt = CONTAINERS[path.suffix.lower()]
        options: dict[str, str] = {}
        if fmt in ("mp4", "mov"):
            options = {"movflags": LIVE_MOVFLAGS, "flush_packets": "1"} if live else {"movflags": "+faststart"}
        elif live:
            options = {"flush_packets": "1"}
        self.container = av.open(str(path), mode="w", format=fmt, options=options)
        try:
            rate = Fraction(fps).limit_denominator(1001) if fps > 0 else Fraction(25)
            self.stream = self.container.add_stream(encoder, rate=rate)
            w, h = size
            self.stream.width, self.stream.height = w - w % 2, h - h % 2  # 4:2:0 needs even sizes
            self.stream.pix_fmt = "yuvj420p" if encoder == "mjpeg" else "yuv420p"
            # The encoder's clock: left at 1/rate it would round a variable rate's times onto the nominal
            # grid, and two frames on one tick make the muxer refuse the file. The container keeps its
            # own (Matroska's is 1 ms); packets are rescaled to it when muxed.
            self._tick = 1000 if encoder == "mpeg4" else 90000  # MPEG-4 Part 2 allows at most 65535 ticks/s
            self.stream.codec_context.time_base = Fraction(1, self._tick)
            self._constant_rate = fmt == "avi"  # AVI has no timestamps, only a frame rate
            self._rate = rate
            opts: dict[str, str] = {}
            if encoder in PRESET_ENCODERS:
                opts["preset"] = preset or DEFAULT_PRESET
                if bitrate:
                    self.stream.bit_rate = int(bitrate)
                else:
                    opts["crf"] = str(DEFAULT_CRF if crf is None else crf)
                if encoder == "libx265":
                    opts["x265-params"] = "log-level=error"
            elif bitrate:
                self.stream.bit_rate = int(bitrate)
            elif encoder == "mpeg4":
                opts.update({"flags": "+qscale", "global_quality": str(3 * 118)})  # -q:v 3, as ffmpeg spells it
            self._live, self._last_key = live, None
            if live:
                # Key frames come by time in ``write`` (the rate a camera delivers is not the nominal
                # one); the encoder's own interval is only the upper bound.
                self.stream.codec_context.gop_size = max(1, int(round(2 * float(rate))))
                if encoder in PRESET_ENCODERS:
                    opts["tune"] = "zerolatency"  # frames leave the encoder as they come (no look-ahead, B-frames)
            self.stream.options = opts
        except Exception:
            self.container.close()
            raise
        self._last_pts = -1
        self._n = 0

    def write(self, bgr: np.ndarray, pts_s: float) -> None:
        w, h = self.stream.width, self.stream.height
        if self.stream.pix_fmt == "yuv420p":
            # OpenCV's BT.601 conversion instead of FFmpeg's default swscale one: 0.23 vs 0.65 ms a
            # 768x576 frame, and closer to the frame (PSNR after a round trip 45.1 vs 41.1 dB on vtest)
            yuv = cv2.cvtColor(np.ascontiguousarray(bgr[:h, :w]), cv2.COLOR_BGR2YUV_I420)
            frame = self._av.VideoFrame.from_ndarray(yuv, format="yuv420p")
        else:
            frame = self._av.VideoFrame.from_ndarray(np.ascontiguousarray(bgr[:h, :w]), format="bgr24")
        if self._constant_rate:
            pts = int(round(self._n * self._tick / self._rate))
        else:
            pts = int(round(pts_s * self._tick))
        frame.pts = max(pts, self._last_pts + 1)  # strictly increasing, even if the source repeats a time
        if self._live and (self._last_key is None or frame.pts - self._last_key >= LIVE_KEY_S * self._tick):
            frame.pict_type = self._av.video.frame.PictureType.I  # a seek point (and a cut file's restart)
            self._last_key = frame.pts
        self._last_pts = frame.pts
        self._n += 1
        frame.time_base = self.stream.codec_context.time_base
        for packet in self.stream.encode(frame):
            self.container.mux(packet)

    def close(self) -> None:
        try:
            for packet in self.stream.encode(None):  # the encoder's delayed frames
                self.container.mux(packet)
        finally:
            self.container.close()


def open_writer(path: Path, choice: EncoderChoice, size: tuple[int, int], fps: float, crf: int | None = None,
                bitrate: int | None = None, preset: str | None = None, live: bool = False):
    if choice.library == "pyav":
        return AvWriter(path, size, fps, choice.encoder, crf, bitrate, preset, live)
    return CvWriter(path, size, fps, choice.encoder)


def count_frames(path: Path) -> int:
    """Frames a player will find in a finished file (0 if it cannot be opened): PyAV counts the video
    packets (exact for any container, nothing decoded); without PyAV, OpenCV reads the header."""
    if not path.exists():
        return 0
    try:
        import av
    except ImportError:
        av = None
    if av is not None:
        try:
            with av.open(str(path)) as c:
                if not c.streams.video:
                    return 0
                stream = c.streams.video[0]
                return sum(1 for p in c.demux(stream) if p.size)
        except Exception:  # any PyAV/FFmpeg error (their classes vary by version): unreadable = incomplete
            return 0
    cap = cv2.VideoCapture(str(path))
    try:
        return int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()


def playable_frames(path: Path) -> int:
    """Video frames a player finds in a file that may be cut short or still being written (a
    fragmented MP4 a killed run left): counted up to the first error, where ``count_frames`` says 0."""
    try:
        import av
    except ImportError:
        return count_frames(path)
    n = 0
    try:
        with av.open(str(path)) as c:
            if not c.streams.video:
                return 0
            for p in c.demux(c.streams.video[0]):
                if p.size:
                    n += 1
    except Exception:  # PyAV/FFmpeg errors at a cut: what came before it still plays
        pass
    return n
