"""``--segment DURATION``: the annotated video as a run of files, ``rec-{start}.mp4``, each
``DURATION`` long (by the frames' own times), each appearing under its name when complete.

``{start}`` is the segment's first frame's local time, ``YYYYmmdd-HHMMSS`` (names sort in time order);
an ``--output`` without it gets ``-{start}`` before its extension. Every frame goes to exactly one
segment, and each segment starts with a key frame (its own encoder), so a cut never splits a group of
pictures. A file source's timestamps run on across segments (a segment's first frame keeps its time
since the run's first frame, as an edit list), so its segments line up end to end; a live segment is
a fragmented MP4, which has no place for that offset, so its times start at 0 (the detections' lines
carry the stream's own timestamps and each one's segment). A live segment is written like a live
recording (fragmented, with a note for ``lookout recover``); a kill loses only the tail of the open one.
Finished segments are recorded in the folder's ``.lookout-segments.jsonl``, which ``--keep`` and
``--min-free`` go by (``retention``).
"""
from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from detector.io.retention import MinFree, SegmentRecord
from detector.io.sinks import FileSink, SinkError, VideoSink
from detector.types.results import Result
from detector.util.partial import free_name

START = "{start}"
RESUME_FREE_BYTES = 4 << 20  # free space (or a tenth of a small disk) a stopped recording waits for
START_FORMAT = "%Y%m%d-%H%M%S"


def segment_pattern(path: str) -> str:
    """``path`` with a ``{start}`` placeholder (added before the extension when missing)."""
    if START in path:
        return path
    p = Path(path)
    return str(p.with_name(f"{p.stem}-{START}{p.suffix}"))


class SegmentedVideoSink(FileSink):
    """``VideoSink`` cut every ``seconds`` of the source's time (capture time live, timestamps for
    files). ``names``: the segments finished so far (paths), oldest first; ``current``: the open one's."""

    needs_annotated = True

    def __init__(self, pattern: str, seconds: float, fps: float | None, wall=time.time, keep_s: float = 0.0,
                 min_free: MinFree = MinFree(), warn=None, **video):
        """``fps``: as for ``VideoSink`` (None: live, measured); ``wall``: the clock names are made from;
        ``keep_s``, ``min_free``: retention of the finished segments (``retention``), applied at each
        cut and at least once a minute; ``video``: ``VideoSink``'s codec options."""
        self.pattern, self.seconds, self.fps, self.live = segment_pattern(pattern), seconds, fps, fps is None
        self.wall, self.video, self.warn = wall, {**video, "warn": warn}, warn
        self.record = SegmentRecord(Path(self.pattern).parent, keep_s, min_free, wall)
        self._checked = time.monotonic()
        self._seg_wall = 0.0
        self.waiting_since: float | None = None  # a full disk stopped recording (live): monotonic time
        self.skipped = 0                          # frames not recorded while it was full
        self.sink: VideoSink | None = None
        self.names: list[Path] = []
        self.current: Path | None = None
        self.frames = 0
        self._t0: float | None = None
        self._start: float = 0.0

    def _time(self, result: Result) -> float:
        return result.frame.captured_at if self.live else result.frame.pts_ms / 1000.0

    def _name(self, result: Result, t: float) -> Path:
        if self.live:  # the wall time the frame was captured at
            moment = self.wall() - (time.monotonic() - result.frame.captured_at)
        else:
            moment = self._wall0 + (t - self._t0)
        stamp = time.strftime(START_FORMAT, time.localtime(moment))
        return free_name(Path(self.pattern.replace(START, stamp)))

    def write(self, result: Result, annotated: np.ndarray | None) -> None:
        t = self._time(result)
        if self._t0 is None:
            self._t0, self._wall0 = t, self.wall()
        if self.waiting_since is not None and not self._space_again():
            self.skipped += 1
            return
        if self.sink is None or t - self._start >= self.seconds:
            self._cut(result, t)
        try:
            self.sink.write(result, annotated)
        except SinkError as e:
            if not (e.no_space and self.live):
                raise
            self._disk_full(e)
            self.skipped += 1
            return
        self.frames += 1
        if time.monotonic() - self._checked >= 60:  # retention's clock runs even when segments are long
            self._prune()

    def _cut(self, result: Result, t: float) -> None:
        fps = None
        if self.sink is not None:
            fps = self.sink.fps
            self._finish()
        self.current = self._name(result, t)
        self._start = t
        self._seg_wall = self.wall()
        # the first segment measures a live rate; the next ones take it over, so none holds frames back
        self.sink = VideoSink(self.current, fps or self.fps, live=self.live, origin=self._t0, **self.video)

    def _finish(self) -> None:
        sink, self.sink = self.sink, None
        sink.close()
        if sink.frames:
            self.names.append(sink.path)
            self.record.add(sink.path, self._seg_wall)
            self._prune()

    def _disk_full(self, error: SinkError) -> None:
        """Live: the open segment keeps what is on disk, recording waits for space (``_space_again``)."""
        sink, self.sink = self.sink, None
        kept = sink.salvage()
        if kept.startswith("kept "):
            self.names.append(sink.path)
        self.waiting_since = self._last_look = time.monotonic()
        if self.warn is not None:
            self.warn(f"lookout: warning: no space left: {error}; recording stopped, {kept}; it starts a new "
                      f"segment when space is free again; the other outputs go on")

    def _space_again(self) -> bool:
        """Every 2 s while waiting: room for a segment again (retention may make it)? Then the next
        frame starts a new segment."""
        if time.monotonic() - self._last_look < 2.0:
            return False
        self._last_look = time.monotonic()
        self._prune()
        import shutil
        usage = shutil.disk_usage(Path(self.pattern).parent)
        if usage.free < min(RESUME_FREE_BYTES, usage.total // 10) or self.record.min_free.short_of(Path(self.pattern).parent):
            return False
        if self.warn is not None:
            self.warn(f"lookout: space free again after {time.monotonic() - self.waiting_since:.0f} s "
                      f"({self.skipped} frames not recorded): recording goes on in a new segment")
        self.waiting_since = None
        return True

    def _prune(self) -> None:
        self._checked = time.monotonic()
        try:
            gone = self.record.prune()
        except OSError as e:
            if self.warn is not None:
                self.warn(f"lookout: warning: retention of {self.record.folder} failed ({e.strerror or e})")
            return
        if gone and self.warn is not None:
            self.warn(f"lookout: retention deleted {len(gone)} old segment(s): {', '.join(gone)}")

    def close(self) -> None:
        if self.sink is not None:
            self._finish()
