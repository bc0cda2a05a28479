"""Frames in, event starts and ends out: which tracks are confirmed objects, and the rules on them.

One ``EventRules`` a stream, fed every processed ``Result`` in order (the output thread). Everything
it decides comes from the frames' own timestamps (``pts_ms``), never from the clock, so two runs on
one file make the same events with the same ids; only ``start_time``/``end_time`` are wall clock.

- Only tracks of the event classes (``classes``: people, vehicles and animals by default,
  ``DEFAULT_EVENT_CLASSES``) make events; every class is still tracked, drawn and counted.
- A track is a confirmed object once seen for ``min_s`` seconds of the source's clock and in
  ``min_frames`` frames (boxes outside the class's area limits do not count), with the median of
  its scores over the last ``score_window_s`` seconds at its class's threshold (``thresholds``,
  else ``threshold``) or above, as Frigate decides; seconds, not frames, so a camera at 25 fps
  confirms the same objects as one at 10. Its ``object`` event starts at the frame it was first
  seen and ends when it has not been seen for ``gap_s`` (end = the last frame it was seen).
- One event a visit: a track confirmed while an event of its label is waiting out its ``gap_s``
  (its object lost, not yet ended) continues that event when it starts near where that object was
  last seen (within 0.75 + 1 box height a second lost, half a height for a still object; a similar
  height): the tracker gave the same object a new ID. The event's ``track_ids`` lists every ID.
- A still object (seen for ``STILL_S`` or more, its box's centre within half its height of where
  it was first seen: a parked car) is waited for ``STILL_GAP_S`` instead of ``gap_s`` before its
  event ends, so a detector that finds it on and off makes one event, not one per re-detection;
  once it moves it is waited for ``gap_s`` as any other.
- The counters' ``line_cross`` / ``zone_enter`` / ``zone_exit`` of a confirmed track are events of
  one frame; those of a track not yet confirmed wait for it, and are dropped if it never is.
- ``loiter``: a confirmed track inside a zone for ``loiter_s`` or more (start: the frame it passes
  that; end: it leaves, or is gone). ``count_above``: a zone holding more than N tracks (of a label,
  or of any kept class), ending once it has held N or fewer for ``gap_s``.
"""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

import numpy as np

from detector.events.settings import DEFAULT_EVENT_CLASSES
from detector.types.results import Result

STILL_S = 5.0       # seen this long without moving: a still object
STILL_GAP_S = 30.0  # how long a still object may go unseen before its event ends



def iso(wall: float) -> str:
    return datetime.fromtimestamp(wall, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def wall_of(result: Result) -> float:
    """Wall-clock time the frame was captured (its monotonic capture time moved onto the clock)."""
    return time.time() - (time.monotonic() - result.frame.captured_at)


@dataclass
class Event:
    """An event while it is open and after; ``record()`` is what the log, MQTT and webhooks get."""

    id: str
    stream: str
    kind: str
    label: str
    track_id: int | None
    start_pts_ms: float
    start_frame: int
    start_wall: float
    zone: str | None = None
    line: str | None = None
    direction: str | None = None
    end_pts_ms: float | None = None
    end_wall: float | None = None
    score: float = 0.0
    best: Result | None = field(default=None, repr=False)   # the best-score frame, for the snapshot
    best_box: tuple | None = None
    best_class: int = 0
    clip: str | None = None
    clip_start_pts_ms: float | None = None
    snapshot: str | None = None
    crop: str | None = None
    track_ids: list = field(default_factory=list)  # every track ID the object had (object events)
    sub_label: str | None = None    # the track's vote of a classifier of your own classes, latest
    sub_score: float = 0.0
    state_from: str | None = None   # kind "state": the region's state before and after
    state_to: str | None = None

    def offer(self, score: float, result: Result, box, class_id: int = 0) -> None:
        if self.best is None or score > self.score:
            self.score, self.best, self.best_class = float(score), result, int(class_id)
            self.best_box = tuple(float(v) for v in box) if box is not None else None

    def record(self) -> dict:
        d = {"id": self.id, "stream": self.stream, "kind": self.kind, "label": self.label,
             "track_id": self.track_id}
        if self.track_ids:
            d["track_ids"] = list(self.track_ids)
        if self.zone is not None:
            d["zone"] = self.zone
        if self.line is not None:
            d["line"] = self.line
        if self.direction is not None:
            d["direction"] = self.direction
        if self.kind == "state":
            d["from"], d["to"] = self.state_from, self.state_to
        if self.sub_label is not None:
            d["sub_label"], d["sub_score"] = self.sub_label, round(self.sub_score, 4)
        d.update(start_pts_ms=round(self.start_pts_ms, 3),
                 end_pts_ms=None if self.end_pts_ms is None else round(self.end_pts_ms, 3),
                 start_time=iso(self.start_wall), end_time=None if self.end_wall is None else iso(self.end_wall),
                 score=round(self.score, 4), clip=self.clip,
                 clip_start_pts_ms=None if self.clip_start_pts_ms is None else round(self.clip_start_pts_ms, 3),
                 snapshot=self.snapshot, crop=self.crop)
        return d


@dataclass
class _Track:
    label: str
    first_pts: float
    first_frame: int
    first_wall: float
    last_pts: float
    last_wall: float
    scores: list = field(default_factory=list)     # (pts, score) of the last score_window_s
    last_box: tuple = ()
    first_box: tuple = ()

    def still(self) -> bool:
        if self.last_pts - self.first_pts < STILL_S * 1000:
            return False
        (a1, b1, a2, b2), (x1, y1, x2, y2) = self.first_box, self.last_box
        moved = np.hypot((x1 + x2 - a1 - a2) / 2, (y1 + y2 - b1 - b2) / 2)
        return bool(moved <= 0.5 * max(y2 - y1, 1.0))
    seen: int = 0
    event: Event | None = None
    candidate: Event | None = None                 # best frame so far, before it is confirmed
    pending: list = field(default_factory=list)    # its counter events, waiting for confirmation


@dataclass(frozen=True)
class RuleSettings:
    min_frames: int = 2
    threshold: float = 0.5
    gap_s: float = 2.0
    min_area: tuple = ()        # (label or '', fraction < 1 or pixels)
    max_area: tuple = ()
    loiter_s: float = 0.0
    count_above: tuple = ()     # (zone, label or '', n)
    min_s: float = 0.7          # seconds a track is seen before it is an event
    score_window_s: float = 1.0  # the median score is taken over this much of the recent past
    classes: tuple | None = DEFAULT_EVENT_CLASSES  # labels that make events; None: every class
    thresholds: tuple = ()      # (label, score): per-class medians, over ``threshold``

    def threshold_of(self, label: str) -> float:
        return dict(self.thresholds).get(label, self.threshold)


def _limit(pairs, label: str, frame_area: float) -> float | None:
    value = dict(pairs).get(label, dict(pairs).get(""))
    if value is None:
        return None
    return value * frame_area if value < 1 else value


class EventRules:
    def __init__(self, stream: str, settings: RuleSettings):
        self.stream, self.s = stream, settings
        self.tracks: dict[int, _Track] = {}
        self.open: dict[str, Event] = {}
        self._inside: dict[tuple[str, int], float] = {}    # (zone, track) -> pts it entered
        self._loiter: dict[tuple[str, int], Event] = {}
        self._above: dict[tuple[str, str], Event] = {}
        self._above_last: dict[tuple[str, str], float] = {}
        self._ids: set[str] = set()
        self.last_pts = 0.0
        self.last_wall = 0.0
        self.counts_removed = {"short": 0, "low_score": 0, "area": 0, "class": 0}
        self.continued = 0  # tracks that continued an open event (one visit, two track IDs)

    # -- public ----------------------------------------------------------------------------------
    def update(self, result: Result) -> list[tuple[str, Event]]:
        """The starts and ends this frame makes, in a fixed order: [("start"|"end", event)]."""
        out: list[tuple[str, Event]] = []
        pts, wall = result.frame.pts_ms, wall_of(result)
        self.last_pts, self.last_wall = pts, wall
        dets = result.detections
        h, w = dets.image_hw if all(dets.image_hw) else result.frame.image.shape[:2]
        ids = dets.track_ids if dets.track_ids is not None else np.full(len(dets), -1)
        boxes: dict[int, tuple[int, float]] = {}
        for i in range(len(dets)):
            tid = int(ids[i])
            if tid < 0:
                continue
            if self.s.classes is not None and dets.labels[i] not in self.s.classes:
                self.counts_removed["class"] += 1
                continue
            x1, y1, x2, y2 = (float(v) for v in dets.xyxy[i])
            area = max(x2 - x1, 0) * max(y2 - y1, 0)
            lo, hi = _limit(self.s.min_area, dets.labels[i], w * h), _limit(self.s.max_area, dets.labels[i], w * h)
            if (lo is not None and area < lo) or (hi is not None and area > hi):
                self.counts_removed["area"] += 1
                continue
            boxes[tid] = (i, float(dets.scores[i]))
            self._see(tid, i, result, pts, wall, out)
        for ev in (result.analytics.events if result.analytics is not None else ()):
            self._counter_event(ev, boxes, result, pts, wall, out)
        self._rules(result, boxes, pts, wall, out)
        for st in result.states:
            if st.changed:
                ev = Event(self._new_id("state", result.frame.index, None, st.name), self.stream, "state", st.name,
                           None, pts, result.frame.index, wall, state_from=st.changed_from, state_to=st.state)
                ev.offer(st.score, result, st.box)
                self._start(ev, out)
                self._end(ev, pts, wall, out)
        for tid in [t for t, tr in self.tracks.items()
                    if pts - tr.last_pts > (STILL_GAP_S if tr.event is not None and tr.still() else self.s.gap_s) * 1000]:
            self._drop(tid, out)
        return out

    def finish(self) -> list[tuple[str, Event]]:
        """The end of the source: every open event ends at the last frame its object was seen."""
        out: list[tuple[str, Event]] = []
        for key in list(self._loiter):
            self._end(self._loiter.pop(key), self.last_pts, self.last_wall, out)
        for key in list(self._above):
            self._end(self._above.pop(key), self.last_pts, self.last_wall, out)
        for tid in list(self.tracks):
            self._drop(tid, out)
        return out

    # -- objects ---------------------------------------------------------------------------------
    def _see(self, tid: int, i: int, result: Result, pts: float, wall: float, out) -> None:
        dets = result.detections
        tr = self.tracks.get(tid)
        if tr is None:
            tr = self.tracks[tid] = _Track(dets.labels[i], pts, result.frame.index, wall, pts, wall)
        tr.seen += 1
        tr.last_pts, tr.last_wall, tr.last_box = pts, wall, tuple(float(v) for v in dets.xyxy[i])
        if not tr.first_box:
            tr.first_box = tr.last_box
        tr.scores.append((pts, float(dets.scores[i])))
        while tr.scores[0][0] < pts - self.s.score_window_s * 1000:
            tr.scores.pop(0)
        target = tr.event
        if target is None:
            if tr.candidate is None:
                tr.candidate = Event("", self.stream, "object", tr.label, tid, tr.first_pts, tr.first_frame, tr.first_wall)
            target = tr.candidate
        target.offer(float(dets.scores[i]), result, dets.xyxy[i], int(dets.class_ids[i]))
        if dets.sub_labels is not None and dets.sub_labels[i] is not None:
            target.sub_label, target.sub_score = dets.sub_labels[i], float(dets.sub_scores[i])
        if tr.event is None and tr.seen >= self.s.min_frames and pts - tr.first_pts >= self.s.min_s * 1000 \
                and statistics.median(s for _, s in tr.scores) >= self.s.threshold_of(tr.label):
            ev = self._continued(tid, tr, out)
            if ev is not None:
                c = tr.candidate
                ev.offer(c.score, c.best, c.best_box, c.best_class)
                tr.event, tr.candidate = ev, None
            else:
                ev = tr.candidate
                ev.id = self._new_id("object", tr.first_frame, tid)
                ev.track_ids.append(tid)
                tr.event, tr.candidate = ev, None
                self._start(ev, out)
            for kind, extra, p, wl, res, box, score in tr.pending:
                self._instant(kind, extra, tid, tr.label, p, wl, res, box, score, out)
            tr.pending.clear()

    def _continued(self, tid: int, tr: _Track, out) -> Event | None:
        """The open event of a lost object of ``tr``'s label that ``tr`` starts near (see the module
        docstring), taken over from its old track; None if there is none."""
        x1, y1, x2, y2 = tr.first_box  # where it came back
        h, centre = max(y2 - y1, 1.0), np.array([(x1 + x2) / 2, (y1 + y2) / 2])
        best, best_d = None, np.inf
        for old_id, old in self.tracks.items():
            if old_id == tid or old.event is None or old.label != tr.label or old.last_pts >= tr.first_pts:
                continue
            ox1, oy1, ox2, oy2 = old.last_box
            oh = max(oy2 - oy1, 1.0)
            d = float(np.hypot((ox1 + ox2) / 2 - centre[0], (oy1 + oy2) / 2 - centre[1])) / oh
            lost_s = (tr.first_pts - old.last_pts) / 1000
            gate = 0.5 if old.still() else 0.75 + lost_s  # a still object comes back where it was
            if d <= gate and 1 / 1.5 <= h / oh <= 1.5 and d < best_d:
                best, best_d = old_id, d
        if best is None:
            return None
        old = self.tracks.pop(best)
        for key in [k for k in self._inside if k[1] == best]:
            del self._inside[key]
        for key in [k for k in self._loiter if k[1] == best]:
            self._end(self._loiter.pop(key), old.last_pts, old.last_wall, out)
        if tid not in old.event.track_ids:  # an ID the tracker re-linked after another took over
            old.event.track_ids.append(tid)
        self.continued += 1
        return old.event

    def _drop(self, tid: int, out) -> None:
        tr = self.tracks.pop(tid)
        for key in [k for k in self._inside if k[1] == tid]:
            del self._inside[key]
        for key in [k for k in self._loiter if k[1] == tid]:
            self._end(self._loiter.pop(key), tr.last_pts, tr.last_wall, out)
        if tr.event is not None:
            self._end(tr.event, tr.last_pts, tr.last_wall, out)
        elif tr.seen < self.s.min_frames or tr.last_pts - tr.first_pts < self.s.min_s * 1000:
            self.counts_removed["short"] += 1
        else:
            self.counts_removed["low_score"] += 1

    # -- counters and rules ----------------------------------------------------------------------
    def _counter_event(self, ev: dict, boxes, result, pts, wall, out) -> None:
        kind, tid = ev["type"], int(ev["track_id"])
        if kind == "zone_enter":
            self._inside[(ev["zone"], tid)] = pts
        elif kind == "zone_exit":
            self._inside.pop((ev["zone"], tid), None)
            if (ev["zone"], tid) in self._loiter:
                self._end(self._loiter.pop((ev["zone"], tid)), pts, wall, out)
        tr = self.tracks.get(tid)
        if tr is None:
            return  # its boxes were outside the area limits
        i, score = boxes.get(tid, (None, 0.0))
        box = result.detections.xyxy[i] if i is not None else None
        extra = {k: ev[k] for k in ("zone", "line", "direction") if k in ev}
        if tr.event is not None:
            self._instant(kind, extra, tid, ev["label"], pts, wall, result, box, score, out)
        else:
            tr.pending.append((kind, extra, pts, wall, result, box, score))

    def _rules(self, result, boxes, pts, wall, out) -> None:
        if self.s.loiter_s > 0:
            for (zone, tid), since in self._inside.items():
                tr = self.tracks.get(tid)
                if tr is None or tr.event is None or (zone, tid) in self._loiter or tid not in boxes:
                    continue  # a loiter starts on a frame the track is seen in
                if pts - since >= self.s.loiter_s * 1000:
                    ev = Event(self._new_id("loiter", result.frame.index, tid, zone), self.stream, "loiter",
                               tr.label, tid, pts, result.frame.index, wall, zone=zone)
                    i, score = boxes.get(tid, (None, 0.0))
                    ev.offer(score, result, result.detections.xyxy[i] if i is not None else None)
                    self._loiter[(zone, tid)] = ev
                    self._start(ev, out)
        if self.s.count_above and result.analytics is not None:
            zones = result.analytics.counts.get("zones", {})
            best = float(result.detections.scores.max()) if len(result.detections) else 0.0
            for zone, label, n in self.s.count_above:
                inside = zones.get(zone, {}).get("inside", {})
                count = inside.get(label, 0) if label else sum(inside.values())
                key = (zone, label)
                if count > n:
                    self._above_last[key] = pts
                    ev = self._above.get(key)
                    if ev is None:
                        ev = Event(self._new_id("count_above", result.frame.index, None, zone), self.stream,
                                   "count_above", label or "any", None, pts, result.frame.index, wall, zone=zone)
                        self._above[key] = ev
                        self._start(ev, out)
                    ev.offer(best, result, None)
                elif key in self._above and pts - self._above_last[key] > self.s.gap_s * 1000:
                    self._end(self._above.pop(key), self._above_last[key], wall, out)

    # -- records ---------------------------------------------------------------------------------
    def _new_id(self, kind: str, frame: int, tid: int | None, where: str | None = None) -> str:
        base = f"{self.stream}-{frame:08d}-{kind}" + (f"-{tid}" if tid is not None else "") + \
            (f"-{where}" if where else "")
        eid, n = base, 1
        while eid in self._ids:
            n += 1
            eid = f"{base}-{n}"
        self._ids.add(eid)
        return eid

    def _instant(self, kind, extra, tid, label, pts, wall, result, box, score, out) -> None:
        ev = Event(self._new_id(kind, result.frame.index, tid, extra.get("zone") or extra.get("line")), self.stream,
                   kind, label, tid, pts, result.frame.index, wall, zone=extra.get("zone"), line=extra.get("line"),
                   direction=extra.get("direction"))
        ev.offer(score, result, box)
        self._start(ev, out)
        self._end(ev, pts, wall, out)

    def _start(self, ev: Event, out) -> None:
        self.open[ev.id] = ev
        out.append(("start", ev))

    def _end(self, ev: Event, pts: float, wall: float, out) -> None:
        ev.end_pts_ms, ev.end_wall = max(pts, ev.start_pts_ms), max(wall, ev.start_wall)
        self.open.pop(ev.id, None)
        out.append(("end", ev))
