"""Sinks: where results go. Settings in ``__init__``, one data method ``write(result, annotated)``.

File sinks are context managers. They write under a temporary name beside the target and rename it
into place on close, so an output file under its real name is always complete: a playable video,
whole JSONL lines. Failures to write raise ``SinkError`` (a ValueError) saying what to do.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import cv2
import numpy as np

from .results import Result

FOURCC = {".mp4": "mp4v", ".m4v": "mp4v", ".mov": "mp4v", ".avi": "MJPG", ".mkv": "mp4v"}


class SinkError(ValueError):
    """An output cannot be written; the message names the file and the next step."""


def _check_writable_dir(folder: Path, what: str) -> None:
    if not folder.is_dir():
        raise SinkError(f"cannot write {what}: folder {str(folder)!r} does not exist; create it or pick another")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SinkError(f"cannot write {what}: folder {str(folder)!r} is not writable; pick another output path")


def _part_path(path: Path) -> Path:
    # keep the extension last: OpenCV picks the container from it
    return path.with_name(f".{path.stem}.part{path.suffix}")


class FileSink:
    """Base for sinks that own files: context manager, ``close()`` idempotent."""

    needs_annotated = False

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()  # finished the same way after an error: what was written stays valid

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        raise NotImplementedError

    def close(self) -> None:
        pass


class VideoSink(FileSink):
    """Annotated video at the source's size and rate.

    ``fps``: the source's rate; None for live sources, where the rate is measured from the capture
    times of the first ``measure_frames`` results (those frames are held until then).
    """

    needs_annotated = True

    def __init__(self, path: str | Path, fps: float | None, measure_frames: int = 16):
        self.path = Path(path)
        if self.path.suffix.lower() not in FOURCC:
            raise SinkError(f"cannot write video {str(self.path)!r}: expected one of {', '.join(FOURCC)}")
        _check_writable_dir(self.path.parent if str(self.path.parent) else Path("."), f"video {self.path.name}")
        self.tmp = _part_path(self.path)
        self.fps = fps if fps and fps > 0 else None
        self.measure_frames = measure_frames
        self._held: list[tuple[float, np.ndarray]] = []
        self._writer = None
        self.frames = 0

    def _open(self, size: tuple[int, int]) -> None:
        self._frame_size = size
        fourcc = cv2.VideoWriter_fourcc(*FOURCC[self.path.suffix.lower()])
        self._writer = cv2.VideoWriter(str(self.tmp), fourcc, float(self.fps), size)
        if not self._writer.isOpened():
            raise SinkError(f"cannot open video writer for {str(self.path)!r}; check the folder and free space")

    def _measured_fps(self) -> float:
        times = [t for t, _ in self._held]
        if len(times) >= 2 and times[-1] > times[0]:
            return (len(times) - 1) / (times[-1] - times[0])
        return 10.0

    def _flush_held(self) -> None:
        if self.fps is None:
            self.fps = self._measured_fps()
        size = (self._held[0][1].shape[1], self._held[0][1].shape[0])
        self._open(size)
        for _, img in self._held:
            if (img.shape[1], img.shape[0]) != size:
                img = cv2.resize(img, size)
            self._writer.write(img)
        self._held.clear()

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        img = annotated if annotated is not None else result.frame.image
        self.frames += 1
        if self._writer is None:
            self._held.append((result.frame.captured_at, img))
            if self.fps is not None or len(self._held) >= self.measure_frames:
                self._flush_held()
            return
        if (img.shape[1], img.shape[0]) != self._frame_size:
            img = cv2.resize(img, self._frame_size)  # a source that changes size mid-stream
        self._writer.write(img)

    def close(self) -> None:
        """Finish the file and move it into place. A video that did not get every frame (disk full,
        folder gone) is not left under the real name: SinkError says what happened."""
        if self._writer is None and self._held:
            self._flush_held()
        if self._writer is None:
            return
        self._writer.release()
        self._writer = None
        try:
            written = _count_frames(self.tmp)
            if written != self.frames:
                raise SinkError(f"video {str(self.path)!r} is incomplete ({written} of {self.frames} frames on disk; "
                                f"disk full or folder removed?); nothing was kept under that name")
            os.replace(self.tmp, self.path)
        except OSError as e:
            raise SinkError(f"cannot finish video {str(self.path)!r} ({e.strerror}); was its folder removed or "
                            f"made read-only?") from None
        finally:
            if self.tmp.exists():
                self.tmp.unlink()


def _count_frames(path: Path) -> int:
    """Frames a player will find in a finished video file (0 if it cannot be opened)."""
    if not path.exists():
        return 0
    cap = cv2.VideoCapture(str(path))
    try:
        n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0) if cap.isOpened() else 0
    finally:
        cap.release()
    return n


class JsonlSink(FileSink):
    """One JSON line per processed frame (see ``Result.to_json``), flushed line by line.

    If a write fails part-way (disk full), the file is cut back to its last whole line.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        _check_writable_dir(self.path.parent if str(self.path.parent) else Path("."), f"detections {self.path.name}")
        self.tmp = _part_path(self.path)
        self._f = open(self.tmp, "wb")
        self._good = 0

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        line = (json.dumps(result.to_json()) + "\n").encode()
        try:
            self._f.write(line)
            self._f.flush()
            self._good += len(line)
        except OSError as e:
            self._cut_back()
            raise SinkError(f"cannot write detections to {str(self.path)!r} ({e.strerror}); "
                            f"free some space or pick another path") from None

    def _cut_back(self) -> None:
        try:
            self._f.truncate(self._good)
        except OSError:
            pass

    def close(self) -> None:
        if self._f.closed:
            return
        try:
            self._f.close()
        except OSError:  # the buffer could not be flushed: keep only whole lines
            with open(self.tmp, "r+b") as f:
                f.truncate(self._good)
        try:
            os.replace(self.tmp, self.path)
        except OSError as e:
            raise SinkError(f"cannot finish detections {str(self.path)!r} ({e.strerror}); was its folder "
                            f"removed or made read-only?") from None


class DumpSink(FileSink):
    """Annotated frames as numbered images (``00000012.jpg`` sorts in frame order), raw ones optional."""

    needs_annotated = True

    def __init__(self, folder: str | Path, ext: str = "jpg", raw: bool = False):
        self.folder = Path(folder)
        self.ext = ext.lower().lstrip(".")
        if self.ext not in ("jpg", "jpeg", "png"):
            raise SinkError(f"cannot dump frames as {ext!r}: expected jpg or png")
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise SinkError(f"cannot create dump folder {str(self.folder)!r} ({e.strerror}); pick another") from None
        _check_writable_dir(self.folder, "frame dumps")
        self.raw = raw
        self.frames = 0

    def _save(self, name: str, img: np.ndarray) -> None:
        ok, buf = cv2.imencode("." + self.ext, img)
        target = self.folder / name
        tmp = self.folder / f".{name}.part"
        try:
            if not ok:
                raise OSError(0, "encoder failed")
            tmp.write_bytes(buf.tobytes())
            os.replace(tmp, target)
        except OSError as e:
            if tmp.exists():
                tmp.unlink()
            raise SinkError(f"cannot write {str(target)!r} ({e.strerror}); free some space or pick another "
                            f"--dump-dir") from None

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        idx = result.frame.index
        self._save(f"{idx:08d}.{self.ext}", annotated if annotated is not None else result.frame.image)
        if self.raw:
            self._save(f"{idx:08d}_raw.{self.ext}", result.frame.image)
        self.frames += 1
