"""A stream's clips and snapshots, written on a thread of its own.

The output thread calls ``feed`` with each result and the starts/ends the rules made of it: the
frame goes into the ring, and while any event of the stream is open (or within its post-roll) the
frame is queued for the stream's one encoder. An event that starts with no clip being written opens
one from the ring, ``pre_roll`` before the event's start; events that overlap share that clip (one
encoding, one file: each event records ``clip`` and ``clip_start_pts_ms``). The clip closes
``post_roll`` after the last of them ends; a clip longer than ``max_clip_s`` goes on in a new file, a
part of it (the index's ``clip_parts``; the event's end record lists them). Clips go through
``VideoSink`` (H.264 mp4 under a temporary name renamed when complete; fragmented for live sources). Snapshots (the best-score frame with its box, and the box's
crop) are written when the event ends. The event log, the index and the messages are handled in
order on this thread, so the frame path only queues.
"""
from __future__ import annotations

import queue
import sqlite3
import threading
from dataclasses import dataclass, field

import cv2
import numpy as np

from detector.events.ring import FrameRing
from detector.events.rules import Event
from detector.io.sinks import VideoSink
from detector.ops.draw import annotate, class_color
from detector.types.results import Result
from detector.util.files import replace_bytes

QUEUE_ITEMS = 32  # frames and records waiting for the encoder: the output thread waits past this


@dataclass
class _Segment:
    rel: str
    first_pts: float
    last_index: int
    open: set = field(default_factory=set)
    until: float = float("-inf")
    part_first_pts: float = 0.0   # where the file now being written (the clip or its latest part) starts


class StreamRecorder(threading.Thread):
    def __init__(self, stream: str, hub, fps: float | None, live: bool, pre_s: float, post_s: float,
                 annotated: bool, ring_frames: int, max_clip_s: float = 300.0):
        super().__init__(name=f"lookout-events-{stream}", daemon=True)
        self.stream, self.hub = stream, hub
        self.store, self.root = hub.store, hub.store.root
        self.fps, self.live = fps, live
        self.pre_ms, self.post_ms, self.annotated = pre_s * 1000, post_s * 1000, annotated
        self.max_clip_ms = max_clip_s * 1000
        self.ring = FrameRing(ring_frames)
        self.q: queue.Queue = queue.Queue(QUEUE_ITEMS)
        self.failed = threading.Event()
        self.error: str | None = None
        self.seg: _Segment | None = None
        self.clips = self.snapshots = 0
        self._in_view: dict[str, int] = {}
        self._zone_counts: dict[tuple[str, str], int] = {}
        self._announced: set[tuple[str | None, str]] = set()

    # -- output thread ---------------------------------------------------------------------------
    def feed(self, result: Result | None, changes: list[tuple[str, Event]], open_labels: dict | None = None) -> None:
        if result is not None:
            self.ring.add(result)
        for what, ev in changes:
            if what == "start":
                ev.id = self.store.event_id(ev.id)
                ev.snapshot = self.store.unique(f"snapshots/{self.stream}/{ev.id}.jpg")
                ev.crop = self.store.unique(f"snapshots/{self.stream}/{ev.id}-crop.jpg") if ev.best_box else None
                if self.seg is None and not self.failed.is_set():
                    frames = self.ring.since(ev.start_pts_ms - self.pre_ms) or ([result] if result else [])
                    if frames:
                        rel = self.store.unique(f"clips/{self.stream}/{self.stream}-{frames[0].frame.index:08d}.mp4")
                        self.seg = _Segment(rel, frames[0].frame.pts_ms, frames[-1].frame.index,
                                            part_first_pts=frames[0].frame.pts_ms)
                        self._put(("open", rel))
                        for r in frames:
                            self._put(("frame", r))
                if self.seg is not None:
                    ev.clip, ev.clip_start_pts_ms = self.seg.rel, self.seg.first_pts
                    self.seg.open.add(ev.id)
                self._put(("start", ev.record()))
            else:
                if self.seg is not None:
                    self.seg.open.discard(ev.id)
                    self.seg.until = max(self.seg.until, ev.end_pts_ms + self.post_ms)
                self._put(("end", ev, ev.record()))
        if result is not None and self.seg is not None:
            if result.frame.index > self.seg.last_index:
                if result.frame.pts_ms - self.seg.part_first_pts >= self.max_clip_ms:
                    # --max-clip: this file ends, the next continues it (the clip's parts, in the index)
                    part = self.store.unique(f"clips/{self.stream}/{self.stream}-{result.frame.index:08d}.mp4")
                    self._put(("close", None))
                    self._put(("open", part, self.seg.rel))
                    self.seg.part_first_pts = result.frame.pts_ms
                self._put(("frame", result))
                self.seg.last_index = result.frame.index
            if not self.seg.open and result.frame.pts_ms >= self.seg.until:
                self._put(("close", None))
                self.seg = None
        if result is not None:
            self._counts(result, open_labels or {})

    def _counts(self, result: Result, in_view: dict[str, int]) -> None:
        """The number of confirmed objects of each label in view, and each zone's counts, when they change."""
        for label in set(in_view) | set(self._in_view):
            n = in_view.get(label, 0)
            if self._in_view.get(label, 0) != n or label not in self._in_view:
                self._announce(None, label)
                self._put(("count", (label,), n))
        self._in_view = dict(in_view)
        if result.analytics is not None:
            for zone, c in result.analytics.counts.get("zones", {}).items():
                now = c.get("inside", {})
                for label in set(now) | {l for z, l in self._zone_counts if z == zone}:
                    n = now.get(label, 0)
                    if self._zone_counts.get((zone, label)) != n:
                        self._announce(zone, label)
                        self._zone_counts[(zone, label)] = n
                        self._put(("count", (zone, label), n))

    def _announce(self, zone: str | None, label: str) -> None:
        if (zone, label) not in self._announced:
            self._announced.add((zone, label))
            self._put(("announce", zone, label))

    def _put(self, item) -> None:
        while not self.failed.is_set() or item[0] not in ("frame", "open", "close"):
            try:
                self.q.put(item, timeout=0.5)
                return
            except queue.Full:
                if not self.is_alive():
                    return

    def finish(self, changes: list[tuple[str, Event]], timeout: float = 60.0) -> None:
        """The source ended: end what is open, close the clip at the last frame, stop the thread."""
        self.feed(None, changes)
        if self.seg is not None:
            self._put(("close", None))
            self.seg = None
        self._put(("stop",))
        self.join(timeout)

    # -- this thread -----------------------------------------------------------------------------
    def run(self) -> None:
        sink: VideoSink | None = None
        rel, last_pts = None, 0.0
        while True:
            try:
                item = self.q.get(timeout=60)
            except queue.Empty:  # nothing happened for a minute: retention still looks (--keep, --min-free)
                try:
                    self.store.prune()
                except sqlite3.Error:
                    pass
                continue
            kind = item[0]
            if kind == "stop":
                if sink is not None:
                    self._close_clip(sink, rel, last_pts)
                return
            try:
                if kind == "open":
                    rel = item[1]
                    (self.root / rel).parent.mkdir(parents=True, exist_ok=True)
                    sink = VideoSink(self.root / rel, None if self.live else (self.fps or 25.0))
                    if len(item) > 2:
                        self.store.clip_part(item[2], rel)
                elif kind == "frame" and sink is not None:
                    r = item[1]
                    img = (annotate(r.frame.image, r.detections, analytics=r.analytics, states=r.states)
                           if self.annotated else None)
                    sink.write(r, img)
                    last_pts = r.frame.pts_ms
                elif kind == "close" and sink is not None:
                    self._close_clip(sink, rel, last_pts)
                    sink = None
                    self.store.prune()
                elif kind == "start":
                    self.store.started(item[1])
                    self.hub.event("start", item[1])
                elif kind == "end":
                    self._snapshots(item[1])
                    rec = item[2]
                    parts = self.store.parts_of(rec.get("clip"))
                    if parts:
                        rec = {**rec, "clip_parts": parts}
                    self.store.ended(rec)
                    self.hub.event("end", rec)
                    self.store.prune()
                elif kind == "count":
                    self.hub.count(self.stream, item[1], item[2])
                elif kind == "announce":
                    self.hub.announce(self.stream, item[2], item[1])
            except (OSError, ValueError, sqlite3.Error) as e:  # disk full, folder gone: clips stop, events go on
                if not self.failed.is_set():
                    self.error = f"clips and snapshots of {self.stream} stopped: {e}"
                    self.hub.warn(f"lookout: warning: {self.error}")
                    self.failed.set()
                    sink = None

    def _close_clip(self, sink: VideoSink, rel: str, last_pts: float) -> None:
        sink.close()
        self.store.clip_done(rel, last_pts)
        self.clips += 1

    def _snapshots(self, ev: Event) -> None:
        if ev.best is None or ev.snapshot is None:
            return
        img = ev.best.frame.image
        shot = img.copy()
        if ev.best_box is not None:
            x1, y1, x2, y2 = (int(round(v)) for v in ev.best_box)
            color = class_color(ev.best_class)  # the colour the annotated video gives the class
            cv2.rectangle(shot, (x1, y1), (x2, y2), color, 2, cv2.LINE_AA)
            cv2.putText(shot, f"{ev.label} {ev.score:.2f}", (x1, max(y1 - 6, 12)), cv2.FONT_HERSHEY_SIMPLEX, 0.5,
                        color, 1, cv2.LINE_AA)
        else:
            shot = annotate(img, ev.best.detections, analytics=ev.best.analytics)
        self._jpeg(ev.snapshot, shot)
        if ev.crop and ev.best_box is not None:
            h, w = img.shape[:2]
            x1, y1, x2, y2 = ev.best_box
            x1, y1 = max(int(x1), 0), max(int(y1), 0)
            x2, y2 = min(int(np.ceil(x2)), w), min(int(np.ceil(y2)), h)
            if x2 > x1 and y2 > y1:
                self._jpeg(ev.crop, img[y1:y2, x1:x2])
        self.snapshots += 1

    def _jpeg(self, rel: str, img: np.ndarray) -> None:
        ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        if not ok:
            raise ValueError(f"cannot encode snapshot {rel}")
        target = self.root / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        replace_bytes(target, buf.tobytes())
        self.store.add_file(rel)
