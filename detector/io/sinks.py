"""Sinks: where results go. Settings in ``__init__``, one data method ``write(result, annotated)``.

File sinks are context managers. They write under a temporary name beside the target and rename it
into place on close, so an output file under its real name is always complete: a playable video,
whole JSONL lines. Failures to write raise ``SinkError`` (a ValueError) saying what to do.

A live source's outputs must also survive a kill: its video is a fragmented MP4 whose fragments
(a second each) are on disk as they complete, its lines are handed to the OS frame by frame, and a
note beside each temporary file (``util.partial``) lets ``lookout recover`` finish them later.
"""
from __future__ import annotations

import csv
import errno
import io
import json
import os
from pathlib import Path

import cv2
import numpy as np

from detector.types.results import Result
from detector.io.video_out import count_frames, open_writer, pick_encoder
from detector.util.files import commit, part_path, replace_bytes
from detector.util.partial import Note

VIDEO_SUFFIXES = (".mp4", ".m4v", ".mov", ".mkv", ".avi")


class SinkError(ValueError):
    """An output cannot be written; the message names the file and the next step. ``no_space``:
    because its disk is full (a live output then stops alone: see ``salvage``)."""

    no_space = False


def _sink_error(message: str, cause: BaseException) -> SinkError:
    e = SinkError(message)
    e.no_space = getattr(cause, "errno", None) == errno.ENOSPC or "No space left" in str(cause)
    return e


def _check_writable_dir(folder: Path, what: str) -> None:
    if not folder.is_dir():
        raise SinkError(f"cannot write {what}: folder {str(folder)!r} does not exist; create it or pick another")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SinkError(f"cannot write {what}: folder {str(folder)!r} is not writable; pick another output path")


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
    """Annotated video at the source's size, timed by the source's timestamps.

    ``fps``: the source's nominal rate; None for live sources, which are written from their first
    frame on with a nominal rate in the header. Live frames are timed by when they were captured,
    file frames by their own timestamps, so a variable rate is kept
    (with PyAV; OpenCV's fallback spaces frames evenly). ``codec``: h264, hevc, mpeg4 or mjpeg (None:
    H.264 for .mp4/.mkv/.mov, MJPEG for .avi); ``warn`` gets one line when it falls back.
    """

    needs_annotated = True

    def __init__(self, path: str | Path, fps: float | None, measure_frames: int = 16, codec: str | None = None,
                 crf: int | None = None, bitrate: int | None = None, warn=None, preset: str | None = None,
                 live: bool | None = None, origin: float | None = None):
        """``live``: a camera's frames (default: when ``fps`` is None; a live segment after the first
        knows its rate). ``origin``: the time (capture time live, seconds of the source otherwise)
        that is 0 in the file; default the first frame's."""
        self.path = Path(path)
        if self.path.suffix.lower() not in VIDEO_SUFFIXES:
            raise SinkError(f"cannot write video {str(self.path)!r}: expected one of {', '.join(VIDEO_SUFFIXES)}")
        _check_writable_dir(self.path.parent if str(self.path.parent) else Path("."), f"video {self.path.name}")
        self.choice = pick_encoder(self.path, codec)
        if self.choice.fallback and warn is not None:
            warn(f"lookout: warning: {self.choice.fallback}")
        self.crf, self.bitrate, self.preset = crf, bitrate, preset
        self.tmp = part_path(self.path)
        self.fps = fps if fps and fps > 0 else None
        self.live = self.fps is None if live is None else live
        self.measure_frames = measure_frames
        self._held: list[tuple[float, np.ndarray]] = []
        self._writer = None
        self._note: Note | None = None
        self._t0: float | None = origin
        self._last_t = -1.0
        self.frames = 0

    def _open(self, size: tuple[int, int]) -> None:
        self._frame_size = size
        try:
            self._writer = open_writer(self.tmp, self.choice, size, self.fps, self.crf, self.bitrate, self.preset,
                                       live=self.live)
            self._note = Note(self.tmp, self.path, "video", self.live)
        except Exception as e:  # PyAV raises its own error types; OpenCV an OSError from CvWriter
            if self._writer is not None:
                self._writer.close()
                self._writer = None
                self.tmp.unlink(missing_ok=True)
            raise _sink_error(f"cannot open a {self.choice.codec} writer for {str(self.path)!r} ({e}); check the "
                              f"folder and free space", e) from None

    def _measured_fps(self) -> float:
        times = [t for t, _ in self._held]
        if len(times) >= 2 and times[-1] > times[0]:
            return (len(times) - 1) / (times[-1] - times[0])
        return 10.0

    def _time_of(self, result: Result) -> float:
        """Seconds since the first frame: capture time live, the source's timestamp for files (or the
        nominal spacing where a source repeats or lacks timestamps)."""
        t = result.frame.captured_at if self.live else result.frame.pts_ms / 1000.0
        if self._t0 is None:
            self._t0 = t
        t -= self._t0
        if t <= self._last_t:
            t = self._last_t + 1.0 / (self.fps or 25.0)
        self._last_t = t
        return t

    def _put(self, t: float, img: np.ndarray) -> None:
        if (img.shape[1], img.shape[0]) != self._frame_size:
            img = cv2.resize(img, self._frame_size)  # a source that changes size mid-stream
        try:
            self._writer.write(img, t)
        except SinkError:
            raise
        except Exception as e:
            raise _sink_error(f"cannot write video {str(self.path)!r} ({e}); is the disk full? Free some space or "
                              f"pick another --output", e) from None

    def _flush_held(self) -> None:
        if self.fps is None:
            self.fps = self._measured_fps()
        self._open((self._held[0][1].shape[1], self._held[0][1].shape[0]))
        for t, img in self._held:
            self._put(t, img)
        self._held.clear()

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        img = annotated if annotated is not None else result.frame.image
        self.frames += 1
        t = self._time_of(result)
        if self._writer is None:
            self._held.append((t, img))
            # a live recording starts at its first frame (what a kill leaves must hold it); its rate is only
            # the nominal one in the header, the frames' own times are what players follow
            if self.fps is not None or self.live or len(self._held) >= self.measure_frames:
                self._flush_held()
            return
        self._put(t, img)

    def close(self) -> None:
        """Finish the file and move it into place. A video that did not get every frame (disk full,
        folder gone) is not left under the real name: SinkError says what happened."""
        if self._writer is None and self._held:
            self._flush_held()
        if self._writer is None:
            return
        writer, self._writer = self._writer, None
        try:
            try:
                writer.close()
            except OSError:
                raise
            except Exception as e:  # PyAV's errors when the last packets or the index can't be written
                raise OSError(getattr(e, "errno", 0) or 0, str(e)) from None
            written = count_frames(self.tmp)
            if written != self.frames:
                raise SinkError(f"video {str(self.path)!r} is incomplete ({written} of {self.frames} frames on disk; "
                                f"disk full or folder removed?); nothing was kept under that name")
            commit(self.tmp, self.path)
        except OSError as e:
            raise SinkError(f"cannot finish video {str(self.path)!r} ({e.strerror or e}); was its folder removed "
                            f"or made read-only, or the disk full?") from None
        finally:
            if self.tmp.exists():
                self.tmp.unlink()
            if self._note is not None:
                self._note.done()

    def salvage(self) -> str:
        """After a SinkError with ``no_space`` (live): keep what is on disk; one line saying what."""
        where, frames = _salvage_video(self)
        if where is None:
            return f"nothing of {self.path.name} could be kept"
        if frames == 0:
            return f"{where.name} kept for lookout recover"
        return f"kept {where} with {frames} frames"


def _salvage_video(sink: VideoSink) -> tuple[Path | None, int]:
    """A live video whose disk filled: the encoder dropped (its last packets cannot be written), the
    file cut back to its whole fragments and moved into place, or left with its note for ``lookout
    recover`` when it cannot be. (where it is, frames kept)."""
    from detector.io.recover import whole_fragments_end
    from detector.io.video_out import playable_frames
    from detector.util.partial import free_name
    writer, sink._writer = sink._writer, None
    if writer is not None:
        try:
            writer.container.close()  # without the encoder's flush: there is no room for more packets
        except Exception:  # PyAV/FFmpeg errors on a full disk: what is on disk is what counts
            pass
    try:
        end = whole_fragments_end(sink.tmp) if sink.tmp.exists() else 0
        if end == 0:
            return None, 0
        os.truncate(sink.tmp, end)
        frames = playable_frames(sink.tmp)
        target = free_name(sink.path)
        os.replace(sink.tmp, target)
    except OSError:
        return sink.tmp, 0
    if sink._note is not None:
        sink._note.done()
    return target, frames


class _LinesSink(FileSink):
    """A text file written a frame's lines at a time and flushed; if a write fails part-way (disk full),
    the file is cut back to its last whole frame. Subclasses say what a frame's lines are."""

    what = "detections"
    header = b""

    def __init__(self, path: str | Path, live: bool = False):
        """``live``: from a camera or stream (see the module docstring)."""
        self.path = Path(path)
        _check_writable_dir(self.path.parent if str(self.path.parent) else Path("."), f"{self.what} {self.path.name}")
        self.tmp = part_path(self.path)
        self._f = open(self.tmp, "wb")
        try:
            self._note = Note(self.tmp, self.path, "lines", live)
        except OSError as e:
            self._f.close()
            self.tmp.unlink(missing_ok=True)
            raise SinkError(f"cannot write {self.what} {str(self.path)!r} ({e.strerror}); free some space or pick "
                            f"another path") from None
        self._good = 0
        self.live = live
        if self.header:
            self._append(self.header)

    def lines(self, result: Result) -> bytes:
        raise NotImplementedError

    def salvage(self) -> str:
        """After a SinkError with ``no_space`` (live): the whole lines so far moved into place."""
        try:
            self._f.close()
        except OSError:
            pass
        try:
            with open(self.tmp, "r+b") as f:
                f.truncate(self._good)
            os.replace(self.tmp, self.path)
        except OSError:
            return f"{self.tmp.name} kept for lookout recover"
        self._note.done()
        return f"kept {self.path} with its whole lines"

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        self._append(self.lines(result))

    def _append(self, data: bytes) -> None:
        try:
            self._f.write(data)
            self._f.flush()
            self._good += len(data)
        except OSError as e:
            self._cut_back()
            raise _sink_error(f"cannot write {self.what} to {str(self.path)!r} ({e.strerror}); "
                              f"free some space or pick another path", e) from None

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
            commit(self.tmp, self.path)
        except OSError as e:
            raise SinkError(f"cannot finish {self.what} {str(self.path)!r} ({e.strerror}); was its folder "
                            f"removed or made read-only?") from None
        finally:
            self._note.done()


class JsonlSink(_LinesSink):
    """One JSON line per processed frame (see ``Result.to_json``); ``timings`` adds each frame's
    per-stage latencies, which differ from run to run."""

    def __init__(self, path: str | Path, timings: bool = False, with_stream: bool = False, live: bool = False,
                 segment_of=None):
        """``with_stream``: lines start with ``"stream"`` (one file for several streams);
        ``segment_of``: () -> the video segment (a path) the frame went to, kept as ``"segment"`` (its
        file name)."""
        super().__init__(path, live)
        self.timings, self.with_stream, self.segment_of = timings, with_stream, segment_of

    def lines(self, result: Result) -> bytes:
        d = result.to_json(self.timings)
        if self.with_stream:
            d = {"stream": result.frame.stream, **d}
        if self.segment_of is not None:
            seg = self.segment_of()
            d["segment"] = Path(seg).name if seg else None
        return (json.dumps(d) + "\n").encode()


CSV_COLUMNS = ("frame", "pts_ms", "x1", "y1", "x2", "y2", "score", "class_id", "label", "track_id",
               "class_label", "class_score", "sub_label", "sub_score")


class CsvSink(_LinesSink):
    """One row per detection, the JSONL's fields flattened (``CSV_COLUMNS``; box in source pixels,
    ``track_id`` empty without tracking, ``class_label``/``class_score`` the box classifier's top-1, ``sub_label``/``sub_score`` the
    track's vote of a classifier of your own classes, empty without one).
    Frames without detections have no rows."""

    def __init__(self, path: str | Path, with_stream: bool = False, live: bool = False):
        """``with_stream``: a first column ``stream`` (one file for several streams)."""
        self.with_stream = with_stream
        self.header = (",".join((("stream",) if with_stream else ()) + CSV_COLUMNS) + "\r\n").encode()
        super().__init__(path, live)

    def lines(self, result: Result) -> bytes:
        buf = io.StringIO()
        w = csv.writer(buf)
        f, d = result.frame, result.detections
        lead = [f.stream] if self.with_stream else []
        for det in d.to_json():
            top = (det.get("classification") or [{}])[0]
            w.writerow([*lead, f.index, round(f.pts_ms, 3), *det["xyxy"], det["score"], det["class_id"], det["label"],
                        det.get("track_id", ""), top.get("label", ""), top.get("score", ""),
                        det.get("sub_label", ""), det.get("sub_score", "")])
        return buf.getvalue().encode()


def detections_sink(path: str | Path, timings: bool = False, with_stream: bool = False,
                    live: bool = False, segment_of=None) -> _LinesSink:
    """--detections: CSV when the name ends in .csv, else JSON lines (``timings``: with latencies;
    ``with_stream``: each line or row names its stream; ``live``: from a camera or stream)."""
    if str(path).lower().endswith(".csv"):
        return CsvSink(path, with_stream, live)
    return JsonlSink(path, timings, with_stream, live, segment_of)


class ImageSink(FileSink):
    """``--output NAME.jpg`` for an image source: the annotated image, written whole. ``names``: for a
    folder or glob of images, the source's files, each written under its own name into ``path``."""

    needs_annotated = True

    def __init__(self, path: str | Path, names: list[str] | None = None):
        self.path, self.names = Path(path), names
        if names is not None:
            try:
                self.path.mkdir(parents=True, exist_ok=True)
            except OSError as e:
                raise SinkError(f"cannot create the output folder {str(self.path)!r} ({e.strerror}); pick another") from None
        _check_writable_dir(self.path if names is not None else (self.path.parent if str(self.path.parent) else Path(".")),
                            f"image {self.path.name}")

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        img = annotated if annotated is not None else result.frame.image
        target = self.path if self.names is None else self.path / Path(self.names[result.frame.index]).name
        ok, buf = cv2.imencode(target.suffix.lower() or ".png", img)
        try:
            if not ok:
                raise OSError(0, f"no encoder for {target.suffix!r}")
            replace_bytes(target, buf.tobytes())
        except OSError as e:
            raise SinkError(f"cannot write {str(target)!r} ({e.strerror}); free some space or pick another "
                            f"--output") from None


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

    def _save(self, name: str, img: np.ndarray) -> None:
        ok, buf = cv2.imencode("." + self.ext, img)
        target = self.folder / name
        try:
            if not ok:
                raise OSError(0, "encoder failed")
            replace_bytes(target, buf.tobytes())
        except OSError as e:
            raise SinkError(f"cannot write {str(target)!r} ({e.strerror}); free some space or pick another "
                            f"--dump-dir") from None

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        idx = result.frame.index
        self._save(f"{idx:08d}.{self.ext}", annotated if annotated is not None else result.frame.image)
        if self.raw:
            self._save(f"{idx:08d}_raw.{self.ext}", result.frame.image)
