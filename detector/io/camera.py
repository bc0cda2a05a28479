"""Webcams: asking for a mode (size, rate, pixel format), reading back what was granted, listing devices.

Cameras silently pick another mode when they can't do the one asked for, so what counts is what
they report afterwards (``negotiate`` returns it). The one device-specific call is ``open_camera``;
everything around it works on any object with OpenCV's ``VideoCapture`` methods (isOpened, set, get,
read, release), which is how the tests drive it without a camera.
"""
from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import cv2


@dataclass(frozen=True)
class CameraMode:
    """A capture mode. 0 / "" = unspecified (the camera's own choice). fourcc: 4 characters, e.g. MJPG."""

    width: int = 0
    height: int = 0
    fps: float = 0.0
    fourcc: str = ""

    def __bool__(self) -> bool:
        return bool(self.width or self.height or self.fps or self.fourcc)

    def describe(self) -> str:
        size = f"{self.width or '?'}x{self.height or '?'}"
        rate = f" @ {self.fps:g} fps" if self.fps else ""
        return f"{size}{rate}{' ' + self.fourcc if self.fourcc else ''}"

    def to_json(self) -> dict:
        return {"width": self.width, "height": self.height, "fps": round(self.fps, 3), "fourcc": self.fourcc}

    def differs_from(self, asked: "CameraMode") -> bool:
        """True when the camera did not give a part of the mode that was asked for."""
        return bool((asked.width and asked.width != self.width) or (asked.height and asked.height != self.height)
                    or (asked.fps and abs(asked.fps - self.fps) > 0.5)
                    or (asked.fourcc and asked.fourcc.upper() != self.fourcc.upper()))


def parse_fourcc(code: str) -> str:
    """A user's --fourcc: exactly 4 printable characters (MJPG, YUYV, H264, ...). ValueError otherwise."""
    code = code.strip()
    if len(code) != 4 or not code.isascii() or not code.isprintable():
        raise ValueError(f"expected --fourcc as 4 characters such as MJPG or YUYV, got {code!r}")
    return code.upper()


def open_camera(index: int):
    """The device-specific call: a capture object for camera ``index`` (V4L2 on Linux)."""
    if sys.platform.startswith("linux"):
        return cv2.VideoCapture(index, cv2.CAP_V4L2)
    return cv2.VideoCapture(index)


def _fourcc_text(value: float) -> str:
    v = int(value or 0)
    text = "".join(chr((v >> (8 * i)) & 0xFF) for i in range(4))
    return text if v and text.isprintable() else ""


def granted_mode(cap) -> CameraMode:
    return CameraMode(int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0),
                      float(cap.get(cv2.CAP_PROP_FPS) or 0.0), _fourcc_text(cap.get(cv2.CAP_PROP_FOURCC)))


def negotiate(cap, asked: CameraMode) -> CameraMode:
    """Ask ``cap`` for ``asked`` and return what it granted. The pixel format goes first: it decides
    which sizes and rates a UVC camera offers (most give 30 fps at 720p only as MJPG)."""
    if asked.fourcc:
        cap.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*asked.fourcc))
    if asked.width:
        cap.set(cv2.CAP_PROP_FRAME_WIDTH, asked.width)
    if asked.height:
        cap.set(cv2.CAP_PROP_FRAME_HEIGHT, asked.height)
    if asked.fps:
        cap.set(cv2.CAP_PROP_FPS, asked.fps)
    return granted_mode(cap)


@dataclass(frozen=True)
class CameraInfo:
    index: int
    path: str
    name: str


def list_cameras(sysfs: str = "/sys/class/video4linux", probe: int = 8) -> list[CameraInfo]:
    """Capture devices present. Linux: the video4linux nodes that capture (a UVC camera also has a
    metadata node, skipped), with the name the driver gives. Elsewhere: indices 0..probe-1 that open."""
    root = Path(sysfs)
    if sys.platform.startswith("linux") or root.is_dir():
        found = []
        for node in sorted(root.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 1 << 30):
            if not node.name[5:].isdigit():
                continue
            if _read(node / "index") not in ("", "0"):  # secondary node of the same device (metadata)
                continue
            found.append(CameraInfo(int(node.name[5:]), f"/dev/{node.name}", _read(node / "name") or "unknown"))
        return found
    found = []
    for i in range(probe):
        cap = open_camera(i)
        try:
            if cap.isOpened():
                found.append(CameraInfo(i, f"index {i}", ""))
        finally:
            cap.release()
    return found


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""


def describe_cameras(cameras: list[CameraInfo]) -> str:
    """The text of ``lookout --list-cameras``."""
    if not cameras:
        return ("no cameras found" + (" (no /dev/video* devices; is the camera plugged in, and is this user in "
                                      "the 'video' group?)" if os.name == "posix" else "")
                + "; use --source with a video file or stream URL instead")
    return "\n".join(f"{c.index}: {c.path}  {c.name}".rstrip() + f"   (--source {c.index})" for c in cameras)
