"""Counting lines and zones over tracked detections, and the per-stream analytics that drive them.

Coordinates are pixels of the frame (x right, y down), or fractions of its width and height when
every number given is within 0..1 (resolved on the first frame). A track's position is the centre
of its box.

- ``Line(name, (x1, y1), (x2, y2))``: a track crossing the segment is counted once per crossing,
  per class and direction. "in" is a crossing from the left of the line to its right, seen
  walking from its first point to its second (image y down: for a line drawn left to right,
  "in" is moving down the picture); "out" the other way.
- ``Zone(name, [(x, y), ...])`` (a polygon, 3 points or more): per class, how many tracks are
  inside now, the most at once, and how many entered in total.

``Analytics`` owns a stream's tracker, counters and short trails; the engine calls ``update`` once
per processed frame and gets the detections with track IDs and a ``FrameAnalytics`` for the sinks.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from detector.types.detections import Detections


@dataclass(frozen=True)
class Line:
    name: str
    p1: tuple[float, float]
    p2: tuple[float, float]

    def to_json(self) -> dict:
        return {"name": self.name, "points": [list(self.p1), list(self.p2)]}


@dataclass(frozen=True)
class Zone:
    name: str
    points: tuple[tuple[float, float], ...]

    def to_json(self) -> dict:
        return {"name": self.name, "points": [list(p) for p in self.points]}


def parse_counter(kind: str, spec: str) -> Line | Zone:
    """``NAME=x1,y1,x2,y2`` (a line) or ``NAME=x1,y1,x2,y2,x3,y3,...`` (a zone); ValueError naming
    the option and what is wrong."""
    option = f"--{kind}"
    name, sep, nums = spec.partition("=")
    name = name.strip()
    if not sep or not name:
        raise ValueError(f"{option} {spec!r}: expected NAME=x1,y1,... (a name, '=', then coordinates)")
    if not name.isprintable():  # a name is shown in messages, the window and the video: one line of text
        raise ValueError(f"{option} {spec!r}: expected a name of printable characters before '='")
    try:
        values = [float(v) for v in nums.split(",") if v.strip()]
    except ValueError:
        raise ValueError(f"{option} {spec!r}: expected numbers separated by commas after '='") from None
    if not all(np.isfinite(values)):
        raise ValueError(f"{option} {spec!r}: expected finite numbers")
    if kind == "line":
        if len(values) != 4:
            raise ValueError(f"{option} {name}: expected 4 numbers x1,y1,x2,y2, got {len(values)}")
        if values[:2] == values[2:]:
            raise ValueError(f"{option} {name}: its two points are the same; expected a segment")
        return Line(name, (values[0], values[1]), (values[2], values[3]))
    if len(values) % 2 or len(values) < 6:
        raise ValueError(f"{option} {name}: expected at least 3 points (6 numbers x1,y1,x2,y2,x3,y3,...), "
                         f"got {len(values)} number(s)")
    return Zone(name, tuple((values[i], values[i + 1]) for i in range(0, len(values), 2)))


def check_names(counters: list[Line | Zone]) -> None:
    seen: dict[str, str] = {}
    for c in counters:
        kind = "line" if isinstance(c, Line) else "zone"
        if c.name in seen:
            raise ValueError(f"--{kind} {c.name}: the name is used twice (by a {seen[c.name]} too); "
                             f"expected one name per line or zone")
        seen[c.name] = kind


def load_counters(path: str | Path) -> list[Line | Zone]:
    """Lines and zones from a counters file (``{"lines": [{"name", "points"}], "zones": [...]}``),
    as the window saves it. ValueError (one line) for anything else: a name that is not text, a
    point that is not two finite numbers, a line without exactly 2 points, a zone with fewer than 3."""
    where = f"--counters {str(path)!r}"
    shape = (f"{where}: expected JSON with \"lines\" and \"zones\", each a list of "
             f"{{\"name\": ..., \"points\": [[x, y], ...]}}")
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ValueError(f"{where}: cannot read it ({e.strerror})") from None
    except ValueError:  # not JSON, or not UTF-8
        raise ValueError(shape) from None
    if not isinstance(data, dict) or not all(isinstance(data.get(k, []), list) for k in ("lines", "zones")):
        raise ValueError(shape)
    out: list[Line | Zone] = []
    for kind in ("lines", "zones"):
        for d in data.get(kind, []):
            if not isinstance(d, dict) or not isinstance(d.get("name"), str) or not d["name"].strip() or not d["name"].isprintable() \
                    or not isinstance(d.get("points"), list):
                raise ValueError(shape)
            pts = tuple(_json_point(where, d["name"], p) for p in d["points"])
            if kind == "lines":
                if len(pts) != 2 or pts[0] == pts[1]:
                    raise ValueError(f"{where}: line {d['name']} needs 2 different points, got {len(pts)}")
                out.append(Line(d["name"], pts[0], pts[1]))
            else:
                if len(pts) < 3:
                    raise ValueError(f"{where}: zone {d['name']} has {len(pts)} points, expected 3 or more")
                out.append(Zone(d["name"], pts))
    return out


def _json_point(where: str, name: str, p) -> tuple[float, float]:
    if not (isinstance(p, list) and len(p) == 2 and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                                                         and np.isfinite(v) for v in p)):
        raise ValueError(f"{where}: {name}: expected each point as [x, y] with two finite numbers, got {p!r:.40}")
    return float(p[0]), float(p[1])


def save_counters(path: str | Path, counters: list[Line | Zone]) -> None:
    data = {"lines": [c.to_json() for c in counters if isinstance(c, Line)],
            "zones": [c.to_json() for c in counters if isinstance(c, Zone)]}
    Path(path).write_text(json.dumps(data, indent=2), encoding="utf-8")


def _points(c: Line | Zone) -> list[tuple[float, float]]:
    return [c.p1, c.p2] if isinstance(c, Line) else list(c.points)


def resolve(counters: list[Line | Zone], size: tuple[int, int]) -> list[Line | Zone]:
    """Counters in pixels of a (w, h) frame: fractions scaled; ValueError naming a counter with a
    point outside the frame."""
    w, h = size
    out = []
    for c in counters:
        pts = _points(c)
        if all(0.0 <= v <= 1.0 for p in pts for v in p):
            pts = [(x * w, y * h) for x, y in pts]
        kind = "line" if isinstance(c, Line) else "zone"
        for x, y in pts:
            if not (0 <= x <= w and 0 <= y <= h):
                raise ValueError(f"--{kind} {c.name}: point ({x:g}, {y:g}) is outside the {w}x{h} frame; "
                                 f"expected pixels within it, or fractions 0..1")
        out.append(Line(c.name, pts[0], pts[1]) if isinstance(c, Line) else Zone(c.name, tuple(pts)))
    return out


def inside(polygon: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Even-odd rule: which of pts (N, 2) lie inside polygon (K, 2)."""
    x, y = pts[:, 0][:, None], pts[:, 1][:, None]
    x1, y1 = polygon[:, 0][None, :], polygon[:, 1][None, :]
    x2, y2 = np.roll(polygon[:, 0], -1)[None, :], np.roll(polygon[:, 1], -1)[None, :]
    crosses = ((y1 > y) != (y2 > y)) & (x < (x2 - x1) * (y - y1) / np.where(y2 != y1, y2 - y1, 1e-12) + x1)
    return (crosses.sum(axis=1) % 2) == 1


@dataclass(frozen=True)
class FrameAnalytics:
    """What tracking and counting add to one frame, for the sinks (JSON, drawing).

    events: dicts (type line_cross / zone_enter / zone_exit, the counter's name, track_id, label,
    direction for lines). counts: {"lines": {name: {"in": {label: n}, "out": {...}}}, "zones":
    {name: {"inside": {label: n}, "max": {...}, "entered": {...}}}}. trails: track id -> (K, 2)
    recent centres in pixels, oldest first; trail_times: track id -> (K,) their frames' times in
    seconds of the source's clock (pts), and time_s this frame's. lines / zones: the counters in pixels.
    """

    events: tuple[dict, ...] = ()
    counts: dict = field(default_factory=dict)
    trails: dict = field(default_factory=dict)
    lines: tuple[Line, ...] = ()
    zones: tuple[Zone, ...] = ()
    trail_times: dict = field(default_factory=dict)
    time_s: float = 0.0


def _centres(xyxy: np.ndarray) -> np.ndarray:
    """(N, 2) centres of the boxes (N, 4) xyxy: a track's position."""
    xyxy = np.asarray(xyxy)
    return np.stack([(xyxy[:, 0] + xyxy[:, 2]) / 2, (xyxy[:, 1] + xyxy[:, 3]) / 2], 1)


class Analytics:
    """One stream's tracker, counters and trails. Thread-safe: the window may change the counters
    while the engine runs."""

    def __init__(self, tracker=None, counters: list[Line | Zone] | None = None, trail_seconds: float = 2.0):
        """``trail_seconds``: how much of each track's path to keep, in the source's time (what a
        drawing may show at most)."""
        from detector.analytics.tracker import Tracker
        self.tracker = tracker or Tracker()
        self.trail_seconds = trail_seconds
        self._lock = threading.Lock()
        self._given = list(counters or [])
        check_names(self._given)
        self._size: tuple[int, int] | None = None
        self._reset_state()

    def _reset_state(self) -> None:
        self._counters: list[Line | Zone] = resolve(self._given, self._size) if self._size else []
        self._side: dict[tuple[str, int], float] = {}
        self._in_zone: dict[str, dict[int, str]] = {}
        self._line_counts = {c.name: {"in": collections.Counter(), "out": collections.Counter()}
                             for c in self._counters if isinstance(c, Line)}
        self._zone_max = {c.name: collections.Counter() for c in self._counters if isinstance(c, Zone)}
        self._zone_entered = {c.name: collections.Counter() for c in self._counters if isinstance(c, Zone)}
        self._trails: dict[int, collections.deque] = {}

    def start(self, size: tuple[int, int]) -> None:
        """Resolve the counters for a (w, h) source; ValueError naming one outside the frame."""
        with self._lock:
            self._size = tuple(size)
            self._reset_state()

    def reset(self) -> None:
        """A new source: tracks and counts start again."""
        with self._lock:
            self.tracker.reset()
            self._size = None
            self._reset_state()

    def reset_counts(self) -> None:
        with self._lock:
            self._reset_state()

    def set_counters(self, counters: list[Line | Zone]) -> None:
        """Replace the lines and zones (pixels or fractions); counts start again."""
        check_names(counters)
        with self._lock:
            if self._size:
                resolve(counters, self._size)  # check before replacing
            self._given = list(counters)
            self._reset_state()

    def rename(self, old: str, new: str) -> None:
        """A label change: the counter keeps its geometry, its counts and its tracks' state.
        ValueError if ``new`` is taken or ``old`` is unknown."""
        with self._lock:
            if old not in {c.name for c in self._given}:
                raise ValueError(f"no line or zone named {old!r}")
            if new != old and new in {c.name for c in self._given}:
                raise ValueError(f"cannot rename {old} to {new}: another line or zone has that name")
            given = [dataclasses.replace(c, name=new) if c.name == old else c for c in self._given]
            check_names(given)
            self._given = given
            self._counters = [dataclasses.replace(c, name=new) if c.name == old else c for c in self._counters]
            for table in (self._line_counts, self._zone_max, self._zone_entered, self._in_zone):
                if old in table:
                    table[new] = table.pop(old)
            self._side = {((new if name == old else name), tid): side for (name, tid), side in self._side.items()}

    @property
    def counters(self) -> list[Line | Zone]:
        with self._lock:
            return list(self._given)

    def update(self, dets: Detections, time_s: float, image: np.ndarray | None = None) -> tuple[Detections, FrameAnalytics]:
        """Track ``dets`` and count; ``time_s`` is the frame's time on the source's clock (pts in
        seconds), so trails span the same stretch of video whether frames arrive in real time or
        faster (a lossless file run decodes ahead of the wall clock), and lost tracks are kept for
        the same time at any frame rate. ``image``: the BGR frame, for the tracker's appearance
        vectors when it has an embedder and for the camera's motion."""
        with self._lock:
            h, w = dets.image_hw
            if self._size is None and w and h:
                self._size = (w, h)
                self._reset_state()
            dets = self.tracker.update(dets, time_s, image)
            return dets, self._count(dets, time_s)

    def _count(self, dets: Detections, now: float) -> FrameAnalytics:
        ids = dets.track_ids
        tracked = np.flatnonzero(ids >= 0)
        # a track picked up again away from where it was lost was not seen crossing anything on
        # the way (and may, rarely, be another object): its side of each line starts again
        for tid in getattr(self.tracker, "jumped", ()):
            for key in [k for k in self._side if k[1] == tid]:
                del self._side[key]
        alive = getattr(self.tracker, "alive_ids", None)
        centres = _centres(dets.xyxy)
        events: list[dict] = []
        self._backfill(ids, dets.labels, events)
        for c in self._counters:
            if isinstance(c, Line):
                self._cross_line(c, ids, tracked, centres, dets.labels, events, dets.xyxy)
            else:
                self._zone(c, ids, tracked, centres, dets.labels, events, alive)
        for j in tracked:
            tid = int(ids[j])
            # the length bound holds where a live source's timestamps stand still (a camera
            # reporting none and no frame rate): 2 s at up to 128 fps
            self._trails.setdefault(tid, collections.deque(maxlen=256)).append((now, *centres[j]))
        for tid in list(self._trails):
            q = self._trails[tid]
            while q and q[0][0] > now:  # the clock went back (a seek): that path is not this one's
                q.popleft()
            while q and now - q[0][0] > self.trail_seconds:
                q.popleft()
            if not q:
                del self._trails[tid]
        trails = {tid: np.array([(x, y) for _, x, y in q], np.float32) for tid, q in self._trails.items()}
        times = {tid: np.array([t for t, _, _ in q], np.float64) for tid, q in self._trails.items()}
        return FrameAnalytics(tuple(events), self.counts(), trails,
                              tuple(c for c in self._counters if isinstance(c, Line)),
                              tuple(c for c in self._counters if isinstance(c, Zone)), times, float(now))

    def _backfill(self, ids, labels, events) -> None:
        """A track confirmed this frame after a while pending (``tracker.backfill``: its boxes then,
        oldest first) crossed lines meanwhile: they count now, once, as the track's first ones. Zones
        need no replay: a track still inside enters on this frame's box."""
        backfill = getattr(self.tracker, "backfill", None)
        lines = [c for c in self._counters if isinstance(c, Line)]
        if not backfill or not lines:
            return
        for j in np.flatnonzero(ids >= 0):
            path = backfill.get(int(ids[j]))
            if not path:
                continue
            boxes = np.array([box for _, box in path], np.float64).reshape(-1, 4)
            centres = _centres(boxes)
            for k in range(len(boxes)):
                for line in lines:
                    self._cross_line(line, ids[j:j + 1], np.zeros(1, np.int64), centres[k:k + 1], (labels[j],),
                                     events, boxes[k:k + 1])

    def _cross_line(self, line: Line, ids, tracked, centres, labels, events, boxes) -> None:
        """A track's side of the line changes only once its centre is a margin past it (a tenth of
        the box's smaller side, at least 2 px), so a box jittering on the line is not counted again
        and again; a change of side counts when it happens within the segment's length."""
        if not len(tracked):
            return
        p1, p2 = np.asarray(line.p1, np.float64), np.asarray(line.p2, np.float64)
        d = p2 - p1
        length = float(np.hypot(*d))
        rel = centres[tracked] - p1
        dist = (d[0] * rel[:, 1] - d[1] * rel[:, 0]) / length  # > 0 right of the line (image y down)
        along = (rel @ d) / length ** 2                          # 0 at p1, 1 at p2
        size = np.minimum(boxes[tracked, 2] - boxes[tracked, 0], boxes[tracked, 3] - boxes[tracked, 1])
        margin = np.maximum(0.1 * size, 2.0)
        for j, dj, tj, mj in zip(tracked, dist, along, margin):
            if abs(dj) < mj:
                continue  # in the dead band: keep the side it had
            tid, side = int(ids[j]), 1.0 if dj > 0 else -1.0
            key = (line.name, tid)
            before = self._side.get(key)
            self._side[key] = side
            if before is None or before == side or not -0.05 <= tj <= 1.05:
                continue
            direction = "in" if side > 0 else "out"
            self._line_counts[line.name][direction][labels[j]] += 1
            events.append({"type": "line_cross", "line": line.name, "direction": direction, "track_id": tid,
                           "label": labels[j]})

    def _zone(self, zone: Zone, ids, tracked, centres, labels, events, alive=None) -> None:
        """A track stays inside while it is lost, as long as the tracker keeps it (``alive``: its
        IDs; without them, while it has a trail), so one picked up again has not entered twice."""
        now_in = self._in_zone.setdefault(zone.name, {})
        hits = inside(np.array(zone.points, np.float64), centres[tracked]) if len(tracked) else np.zeros(0, bool)
        seen = set()
        for j, hit in zip(tracked, hits):
            tid = int(ids[j])
            seen.add(tid)
            if hit and tid not in now_in:
                now_in[tid] = labels[j]
                self._zone_entered[zone.name][labels[j]] += 1
                events.append({"type": "zone_enter", "zone": zone.name, "track_id": tid, "label": labels[j]})
            elif not hit and tid in now_in:
                events.append({"type": "zone_exit", "zone": zone.name, "track_id": tid, "label": now_in.pop(tid)})
        kept = alive if alive is not None else self._trails
        for tid in [t for t in now_in if t not in seen and t not in kept]:
            events.append({"type": "zone_exit", "zone": zone.name, "track_id": tid, "label": now_in.pop(tid)})
        current = collections.Counter(now_in.values())
        for label, n in current.items():
            self._zone_max[zone.name][label] = max(self._zone_max[zone.name][label], n)

    def totals(self) -> dict:
        """Counts so far, from any thread (see ``FrameAnalytics``)."""
        with self._lock:
            return self.counts()

    def counts(self) -> dict:
        """Counts so far (see ``FrameAnalytics``); the caller holds the lock."""
        lines = {name: {d: dict(c) for d, c in v.items()} for name, v in self._line_counts.items()}
        zones = {name: {"inside": dict(collections.Counter(self._in_zone.get(name, {}).values())),
                        "max": dict(self._zone_max[name]), "entered": dict(self._zone_entered[name])}
                 for name in self._zone_max}
        return {"lines": lines, "zones": zones}
