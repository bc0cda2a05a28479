"""Frame sources: webcam index, video file, image file, folder or glob of images, stream URL.

A source is opened by ``open_source(spec)``; it yields ``RawFrame``s from ``read()`` and is owned by
exactly one capture thread, which calls ``close()`` in ``finally``. Errors a user can fix raise
``SourceError`` (a ValueError) with what was expected and what came.
"""
from __future__ import annotations

import glob
import os
import re
import socket
import threading
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import cv2
import numpy as np

from detector.io import camera as _camera
from detector.io.camera import CameraMode

IMAGE_EXTS = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".ppm", ".pgm"}
STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://", "tcp://")
# Consecutive failed reads before a file is taken as ended (a damaged stretch is skipped past).
MAX_BAD_RUN = 25
# Largest frame decoded, in pixels (--max-pixels): 8K UHD (7680x4320, 33 MP) and 48 MP phone photos
# (8000x6000) pass; a 30000x30000 PNG of under 1 MB, which would take 2.7 GB decoded, does not.
DEFAULT_MAX_PIXELS = 50_000_000


class SourceError(ValueError):
    """A source cannot be opened or read; the message says what to do."""


@dataclass(frozen=True)
class SourceOptions:
    """How to open a source. ``camera``: the mode asked of a webcam (see camera.py). ``rtsp_transport``:
    tcp (default: UDP's packets are lost through NAT and firewalls) or udp."""

    open_timeout_s: float = 10.0
    rtsp_transport: str = "tcp"
    camera: CameraMode = field(default_factory=CameraMode)
    max_pixels: int = DEFAULT_MAX_PIXELS


_URL_AUTHORITY = re.compile(r"(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)(?P<authority>[^/\s]*)")


def _mask_authority(m: re.Match) -> str:
    userinfo, at, host = m.group("authority").rpartition("@")  # the last '@': a user name may hold one
    if not at or ":" not in userinfo:
        return m.group(0)
    return f"{m.group('scheme')}{userinfo.split(':', 1)[0]}:***@{host}"


def mask_url(text: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``, anywhere in ``text``: what every
    log line, title, stats file and error message shows of a source (also when the user name or the
    password holds '@' or ':')."""
    return _URL_AUTHORITY.sub(_mask_authority, text)


@dataclass(frozen=True)
class RawFrame:
    """A frame as the source gave it: ``image`` HxWx3 uint8 BGR, ``pts_ms`` the source's timestamp,
    ``index`` its position in the source (skipped bad frames leave gaps)."""

    image: np.ndarray
    pts_ms: float
    index: int


class Source:
    """Base: ``read()`` -> RawFrame or None at the end; ``close()`` releases the device."""

    live = False        # a camera or stream: frames come at their own pace
    fps: float = 0.0    # 0 when unknown
    total: int = 0      # frame count when known, else 0
    size: tuple[int, int] = (0, 0)  # (w, h) when known
    description = ""
    missing = 0         # frames the header promised that could not be read at all (a cut-off file)
    bad = 0             # frames or images that failed to decode and were skipped, so far
    skipped: tuple[str, ...] = ()  # why each image over the pixel limit was skipped undecoded, so far

    def read(self) -> RawFrame | None:
        raise NotImplementedError

    def reopen(self) -> bool:
        """Live sources try to reconnect after a failure; files do not."""
        return False

    def rewind(self) -> bool:
        """Start again from the first frame (for --loop); False when the source can't."""
        return False

    def close(self) -> None:
        pass


def _as_bgr(img: np.ndarray) -> np.ndarray | None:
    """Bring any decoded image (gray, BGRA, 16-bit) to HxWx3 uint8 BGR; None when it is unusable."""
    if img is None or img.size == 0:
        return None
    if img.dtype == np.uint16:
        img = (img >> 8).astype(np.uint8)
    elif img.dtype != np.uint8:
        return None
    if img.ndim == 2:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    if img.shape[2] == 4:
        return cv2.cvtColor(img, cv2.COLOR_BGRA2BGR)
    if img.shape[2] == 1:
        return cv2.cvtColor(img, cv2.COLOR_GRAY2BGR)
    return img


class VideoSource(Source):
    """A video file, a camera or a non-RTSP stream URL (HTTP MJPEG, RTMP, ...) through OpenCV (FFmpeg / V4L2)."""

    def __init__(self, target, description: str, live: bool, options: SourceOptions = SourceOptions()):
        self.target, self.description, self.live = target, mask_url(description), live
        self.options = options
        self.open_timeout_s = options.open_timeout_s
        self.granted: CameraMode | None = None  # cameras: the mode the device reported after asking
        self.cap = self._open()
        if self.cap is None:
            raise SourceError(self._cannot_open())
        self.fps = float(self.cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (0.5 < self.fps < 1000):
            self.fps = 0.0
        self.total = max(int(self.cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0), 0) if not live else 0
        self.size = (int(self.cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(self.cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        self._index = 0
        if self.size[0] * self.size[1] > options.max_pixels:
            self.cap.release()
            raise SourceError(f"{self.description}: {too_big(self.size, options.max_pixels)}")

    def _cannot_open(self) -> str:
        if isinstance(self.target, int):
            return (f"no camera at index {self.target}: expected a connected webcam (lookout --list-cameras "
                    f"lists them), or use --source with a video file or stream URL")
        if self.description.startswith(STREAM_SCHEMES):
            return (f"cannot connect to stream {self.description} within {self.open_timeout_s:.0f} s: "
                    f"check the URL and that the server is up")
        return f"cannot decode {self.description}: expected a video file OpenCV/FFmpeg can read"

    def _open(self):
        ms = int(self.open_timeout_s * 1000)
        if isinstance(self.target, int):
            cap = _camera.open_camera(self.target)
        else:
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
            cap = cv2.VideoCapture(self.target, cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            return None
        if isinstance(self.target, int):
            self.granted = _camera.negotiate(cap, self.options.camera)
        return cap

    def read(self) -> RawFrame | None:
        run = 0  # consecutive failures
        while True:
            ok, img = self.cap.read()
            img = _as_bgr(img) if ok else None
            if img is not None and img.shape[0] * img.shape[1] > self.options.max_pixels:
                # a stream that switched to frames over the limit: not passed on, and not for long
                run += 1
                if run > MAX_BAD_RUN:
                    raise SourceError(f"{self.description}: {too_big(img.shape[1::-1], self.options.max_pixels)}")
                self.bad += 1
                self._index += 1
                continue
            if img is not None:
                pts = float(self.cap.get(cv2.CAP_PROP_POS_MSEC) or 0.0)
                if pts <= 0 and self._index and self.fps:  # some containers report no timestamps
                    pts = self._index * 1000.0 / self.fps
                self._index += 1
                return RawFrame(img, pts, self._index - 1)
            if self.live:
                return None  # the capture thread decides whether to reconnect
            # A file: past the end, or a damaged frame to skip?
            pos = int(self.cap.get(cv2.CAP_PROP_POS_FRAMES) or 0)
            if not self.total or pos >= self.total:
                return None
            if run >= MAX_BAD_RUN:  # nothing decodes any more: truncated or shrunk under us
                self.bad -= run
                self.missing = max(self.total - (self._index - run), 0)
                return None
            run += 1
            self.bad += 1
            self._index += 1

    def reopen(self) -> bool:
        if not self.live:
            return False
        self.cap.release()
        cap = self._open()
        if cap is None:
            return False
        self.cap = cap
        return True

    def rewind(self) -> bool:
        if self.live:
            return False
        self._index = 0
        return bool(self.cap.set(cv2.CAP_PROP_POS_FRAMES, 0))

    def close(self) -> None:
        self.cap.release()


class RtspSource(Source):
    """An RTSP stream through PyAV (FFmpeg's demuxer and decoder, no OpenCV).

    OpenCV's FFmpeg backend opens one capture at a time, process-wide (about a second each for an
    RTSP stream), so eight cameras used to start one after another; PyAV opens and probes with the
    GIL released and no lock, so every stream opens at once. Decoding starts on a key frame: a stream
    joined mid-GOP would otherwise show frames decoded against references never received (smeared)."""

    live = True

    def __init__(self, url: str, options: SourceOptions = SourceOptions()):
        self.url, self.description, self.options = url, mask_url(url), options
        self.open_timeout_s = options.open_timeout_s
        self._container = self._stream = None
        self._frames = None
        self._index = 0
        self._last_pts: float | None = None
        if not self._open():
            raise SourceError(f"cannot open stream {self.description}: {rtsp_diagnose(url, self.open_timeout_s)}")
        ctx = self._stream.codec_context
        self.size = (int(ctx.width or 0), int(ctx.height or 0))
        rate = self._stream.average_rate or self._stream.guessed_rate
        self.fps = float(rate) if rate and 0.5 < float(rate) < 1000 else 0.0
        if self.size[0] * self.size[1] > options.max_pixels:
            self.close()
            raise SourceError(f"{self.description}: {too_big(self.size, options.max_pixels)}")

    def _open(self) -> bool:
        import av  # a base dependency; imported where a stream is opened
        try:
            container = av.open(self.url, options={"rtsp_transport": self.options.rtsp_transport},
                                timeout=(self.open_timeout_s, self.open_timeout_s))
        except (av.FFmpegError, OSError):  # its text may hold the URL's password: never shown
            return False
        video = [s for s in container.streams if s.type == "video"]
        if not video:
            container.close()
            return False
        self._container, self._stream = container, video[0]
        self._frames = self._decoded()
        return True

    def _decoded(self):
        """Frames from the first key frame on (packets before it are dropped undecoded)."""
        import av
        started = False
        for packet in self._container.demux(self._stream):
            if packet.size == 0:
                continue
            if not started and not packet.is_keyframe:
                continue
            started = True
            try:
                frames = packet.decode()
            except av.InvalidDataError:  # a damaged packet: skipped, counted
                self.bad += 1
                continue
            yield from frames

    def read(self) -> RawFrame | None:
        import av
        try:
            frame = next(self._frames, None)
        except (av.FFmpegError, OSError):  # stalled past the read timeout, or the connection dropped
            return None
        if frame is None:
            return None
        image = frame.to_ndarray(format="bgr24")
        if image.shape[0] * image.shape[1] > self.options.max_pixels:
            raise SourceError(f"{self.description}: {too_big(image.shape[1::-1], self.options.max_pixels)}")
        if frame.time is not None:  # the session's clock, from about 0 at its start
            pts = frame.time * 1000.0
        else:  # the first key frame often comes without a timestamp: one frame interval on from the last
            pts = self._last_pts + 1000.0 / self.fps if self._last_pts is not None and self.fps else 0.0
        self._last_pts = pts
        self._index += 1
        return RawFrame(image, pts, self._index - 1)

    def reopen(self) -> bool:
        self.close()
        self._last_pts = None
        return self._open()

    def close(self) -> None:
        if self._frames is not None:
            self._frames.close()
            self._frames = None
        if self._container is not None:
            self._container.close()
            self._container = None


def rtsp_diagnose(url: str, timeout_s: float) -> str:
    """Why an RTSP URL did not open, asked of the server itself (FFmpeg through OpenCV only says it
    failed): nothing listening, no answer, credentials refused, no such stream. Never echoes the password."""
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 554
    bare = urlunsplit((parts.scheme, f"{host}:{port}", parts.path, parts.query, ""))
    wait = min(timeout_s, 1.0)  # OpenCV has already waited out the user's --open-timeout
    try:
        with socket.create_connection((host, port), timeout=wait) as s:
            s.settimeout(wait)
            s.sendall(f"DESCRIBE {bare} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\n\r\n".encode())
            status = s.recv(256).split(b"\r\n", 1)[0].decode("latin-1")
    except socket.timeout:
        return f"{host}:{port} did not answer within {timeout_s:g} s; check the address and the camera"
    except OSError as e:
        return f"nothing answers at {host}:{port} ({e.strerror or e}); check the address and that the server is up"
    code = status.split()[1] if len(status.split()) > 1 else ""
    if code == "401":
        if parts.username:
            return "the server refused the user name or password (401); check them"
        return "the server wants a user name and password (401); give them as rtsp://user:password@host/..."
    if code == "404":
        return f"the server has no stream at {parts.path or '/'} (404); check the path"
    return (f"the server answered but the stream did not start within {timeout_s:.0f} s ({status or 'no status'}); "
            f"try --rtsp-transport udp or check the codec")


class ImageSource(Source):
    """One image file, or a sorted list of them. Unreadable files are counted as bad frames."""

    def __init__(self, paths: list[str], description: str, fps: float = 0.0,
                 max_pixels: int = DEFAULT_MAX_PIXELS):
        self.paths, self.description, self.fps = paths, description, fps
        self.max_pixels = max_pixels
        self.total = len(paths)
        self._i = 0

    def read(self) -> RawFrame | None:
        while self._i < len(self.paths):
            path = self.paths[self._i]
            self._i += 1
            refusal = image_refusal(path, self.max_pixels)
            if refusal:
                self.skipped = (*self.skipped, f"skipped {path}: {refusal}")
                continue
            img = _decode_image(path)
            if img is None:
                self.bad += 1
                continue
            if self.size == (0, 0):
                self.size = (img.shape[1], img.shape[0])
            return RawFrame(img, (self._i - 1) * (1000.0 / self.fps if self.fps else 0.0), self._i - 1)
        return None

    def rewind(self) -> bool:
        self._i = 0
        return True


def too_big(size: tuple[int, int], max_pixels: int) -> str:
    w, h = size
    return (f"{w}x{h} is {w * h / 1e6:.1f} MP, over the {max_pixels / 1e6:g} MP limit; resize it, or raise "
            f"--max-pixels if this machine has the memory (about {w * h * 3 / 2**20:,.0f} MB a frame)")


_PIL_LIMIT_LOCK = threading.Lock()


def image_size(path: str) -> tuple[int, int] | None:
    """(width, height) from the file's header alone (Pillow reads no pixel data in ``open``); None
    when no known image header is there."""
    from PIL import Image  # only image sources need it
    with _PIL_LIMIT_LOCK:
        limit, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None  # the limit here is ours, and needs the size
        try:
            with Image.open(path) as im:
                return im.size
        except Exception:  # Pillow raises many types for files it can't identify or parse
            return None
        finally:
            Image.MAX_IMAGE_PIXELS = limit


def image_refusal(path: str, max_pixels: int) -> str | None:
    """Why an image must not be decoded (over ``max_pixels`` by its header), or None."""
    size = image_size(path)
    if size is not None and size[0] * size[1] > max_pixels:
        return too_big(size, max_pixels)
    return None


def _decode_image(path: str) -> np.ndarray | None:
    """Decode an image file to BGR uint8; None for unreadable, empty or cut-off files."""
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    if not data.size:
        return None
    if Path(path).suffix.lower() in (".jpg", ".jpeg"):
        tail = data[-64:].tobytes().rstrip(b"\0")
        if not tail.endswith(b"\xff\xd9"):
            return None  # no end-of-image marker: cut off; libjpeg would fill the rest with grey
    return _as_bgr(cv2.imdecode(data, cv2.IMREAD_UNCHANGED))


def _image_list(spec: str) -> list[str] | None:
    if any(c in spec for c in "*?["):
        return sorted(p for p in glob.glob(spec) if os.path.isfile(p))
    if os.path.isdir(spec):
        return sorted(str(p) for p in Path(spec).iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTS)
    return None


def open_source(spec: str, options: SourceOptions = SourceOptions()) -> Source:
    """Open a source from its command-line spelling. Raises SourceError with the fix."""
    spec = str(spec).strip()
    if spec.isdigit():
        return VideoSource(int(spec), f"camera {spec}", live=True, options=options)
    if spec.lower().startswith(("rtsp://", "rtsps://")):
        return RtspSource(spec, options)
    if spec.lower().startswith(STREAM_SCHEMES):
        return VideoSource(spec, spec, live=True, options=options)
    images = _image_list(spec)
    if images is not None:
        if not images:
            raise SourceError(f"no images in {spec!r}: expected a folder or glob holding "
                              f"{', '.join(sorted(IMAGE_EXTS))} files")
        return ImageSource(images, spec, max_pixels=options.max_pixels)
    if not os.path.exists(spec):
        raise SourceError(f"no such file: {spec!r}; expected a video, image, folder, glob, camera index or URL")
    if os.path.getsize(spec) == 0:
        raise SourceError(f"{spec!r} is empty (0 bytes): expected a video or image file")
    if Path(spec).suffix.lower() in IMAGE_EXTS:
        refusal = image_refusal(spec, options.max_pixels)
        if refusal:
            raise SourceError(f"image {spec!r}: {refusal}")
        if _decode_image(spec) is None:
            raise SourceError(f"cannot decode image {spec!r}: expected a readable {Path(spec).suffix} file")
        return ImageSource([spec], spec, max_pixels=options.max_pixels)
    source = VideoSource(spec, spec, live=False, options=options)
    if source.total <= 0 or source.size[0] <= 0:
        source.close()
        raise SourceError(f"{spec!r} holds no video frames: expected a video file OpenCV/FFmpeg can read")
    return source


def input_files(spec: str) -> list[str]:
    """The files a source spec reads: itself, or each file of a folder or glob; none for cameras and
    streams. Used to keep outputs off inputs (util.write_guard)."""
    spec = str(spec).strip()
    if not spec or is_live_spec(spec):
        return []
    images = _image_list(spec)
    if images is not None:
        return images
    return [spec]


def is_live_spec(spec: str) -> bool:
    """Cameras (an index) and stream URLs are live; files and image folders are not."""
    return spec.strip().isdigit() or spec.strip().lower().startswith(STREAM_SCHEMES)
