"""Several streams through one detector: the scheduler that builds each detector call.

Every stream has its own capture thread, its own Engine (class filter, classifier state, tracker,
counters, stats) and its own outputs; they share the models. ``Scheduler.results`` yields
``(stream, result)`` in each stream's frame order:

- a lossless stream (a file) gets detector calls of ``batch_lossless`` of its own consecutive frames,
  so its batches, and its JSONL, are the same on every run whatever the other streams do;
- live streams (cameras, URLs) share calls: the newest frame of each live stream that has one, up to
  ``batch_live``, waiting at most ``wait_s`` for a call to fill, so one stream's latency barely grows;
- fairness: the stream that has had the fewest detector frames (per unit of its ``weight``) goes
  first, so under overload each gets an equal share and a fast stream cannot starve a slow one; what
  a live stream could not get is dropped at its capture (the newest frame wins) and counted there.

One stream is the N = 1 case: ``run()`` for a single source drives this same scheduler.
"""
from __future__ import annotations

import threading
import time
from typing import Iterator

from detector.engine.capture import QUEUE_BYTES, CaptureThread, EndOfStream
from detector.engine.motion import MotionGate
from detector.engine.stream_engine import Engine
from detector.engine.regions import RegionPlanner
from detector.ops.regions import crop
from detector.types.detections import Detections
from detector.types.frames import Frame
from detector.types.results import Result


class Stream:
    """One stream's moving parts, driven by the scheduler's thread only (its capture thread aside).

    ``limit``: frames to process, 0 for all. ``weight``: its share of detector frames relative to the
    other streams'. ``gate``: motion gating (None: every frame is detected). ``regions``: the region
    stage (None: the detector sees each whole frame)."""

    def __init__(self, name: str, capture: CaptureThread, engine: Engine, gate: MotionGate | None = None,
                 weight: float = 1.0, limit: int = 0, regions: RegionPlanner | None = None):
        self.name, self.capture, self.engine, self.gate, self.regions = name, capture, engine, gate, regions
        self.weight, self.limit = max(weight, 1e-3), limit
        self.stats = engine.stats
        self.served = 0.0           # detector frames / weight: the fairness clock
        self.taken = 0              # frames handed to the engine
        self.done = False           # ended, failed, or at its limit
        self.error: Exception | None = None
        self._last_raw: Detections | None = None  # the last detector output, carried over still frames

    @property
    def live(self) -> bool:
        return self.capture.policy.live

    def poll(self, timeout: float = 0.0) -> Frame | None:
        """Its next frame if one is ready (waiting up to ``timeout``); marks it done at its end."""
        if self.done:
            return None
        try:
            frame = self.capture.buffer.get(timeout=timeout)
        except EndOfStream:
            self.done = True
            self.error = self.capture.error
            return None
        finally:
            dropped = self.capture.buffer.new_drops()
            if dropped > 0:
                self.stats.count("dropped", dropped)
        if frame is not None:
            self.taken += 1
            if self.limit and self.taken >= self.limit:
                self.done = True  # the caller stops its capture
        return frame


class Scheduler:
    """``expected``: how many streams will be added in all (``add``, from any thread, as each one's
    source opens), so a stream slow to open holds up none of the others; results end once every
    expected stream was added (or ``gone``) and has ended."""

    def __init__(self, streams: list[Stream], batch_lossless: int = 4, batch_live: int = 1, wait_s: float = 0.004,
                 expected: int | None = None):
        self.batch_lossless, self.batch_live, self.wait_s = batch_lossless, batch_live, wait_s
        self.ready = threading.Event()
        self.streams: list[Stream] = []
        self._lock = threading.Lock()
        self._missing = (len(streams) if expected is None else expected)
        for s in streams:
            self.add(s)

    def add(self, stream: Stream) -> None:
        stream.capture.buffer.notify = self.ready  # a capture that puts a frame wakes the scheduler
        with self._lock:
            self.streams = [*self.streams, stream]
            self._missing -= 1
        self.ready.set()

    def gone(self) -> None:
        """An expected stream that will never come (its source did not open)."""
        with self._lock:
            self._missing -= 1
        self.ready.set()

    def results(self, stop: threading.Event) -> Iterator[tuple[Stream, Result]]:
        while not stop.is_set():
            if not any(not s.done for s in self.streams):
                if self._missing <= 0:
                    return
                self.ready.wait(0.1)  # the first sources are still opening
                self.ready.clear()
                continue
            yield from self.turn(stop)

    def turn(self, stop: threading.Event) -> Iterator[tuple[Stream, Result]]:
        """One detector call's results, or none after waiting briefly for a frame: the window's engine
        thread takes turns one at a time, so it can act on its requests between them."""
        active = [s for s in self.streams if not s.done]
        turn = self._take(active, stop) if active else []
        return self._run(turn) if turn else iter(())

    def _take(self, active: list[Stream], stop: threading.Event) -> list[tuple[Stream, Frame]]:
        """The next detector call's frames, or [] after waiting briefly for any."""
        self.ready.clear()
        floor = min(s.served for s in active)
        for s in active:  # a stream back from idling does not get the turns it missed
            s.served = max(s.served, floor)
        for s in sorted(active, key=lambda s: s.served):
            frame = s.poll()
            if frame is None:
                continue
            if not s.live:
                frames = [frame]
                # big frames batch fewer: 4 frames of 8K would hold 400 MB for no speed-up
                while (len(frames) < self.batch_lossless and sum(f.image.nbytes for f in frames) < QUEUE_BYTES
                       and not s.done and not stop.is_set()):
                    nxt = s.poll(timeout=0.2)  # the file's next frames, in order: the same batches every run
                    if nxt is not None:
                        frames.append(nxt)
                s.served += len(frames) / s.weight
                return [(s, f) for f in frames]
            return self._fill_live([(s, frame)], [o for o in active if o is not s and o.live])
        self.ready.wait(0.05)
        return []

    def _fill_live(self, turn: list[tuple[Stream, Frame]], others: list[Stream]) -> list[tuple[Stream, Frame]]:
        """Add the newest frame of other live streams, fewest served first, for up to ``wait_s``."""
        turn[0][0].served += 1 / turn[0][0].weight
        others = sorted(others, key=lambda s: s.served)
        deadline = time.monotonic() + self.wait_s
        while others and len(turn) < self.batch_live:
            for o in list(others):
                frame = o.poll()
                if frame is not None or o.done:
                    others.remove(o)
                if frame is not None:
                    o.served += 1 / o.weight
                    turn.append((o, frame))
                    if len(turn) >= self.batch_live:
                        break
            left = deadline - time.monotonic()
            if left <= 0 or not others or len(turn) >= self.batch_live:
                break
            self.ready.wait(left)
            self.ready.clear()
        return turn

    def _run(self, turn: list[tuple[Stream, Frame]]) -> Iterator[tuple[Stream, Result]]:
        """One detector call for the frames that need it, then each frame through its own stream's
        engine, in turn order (a stream's frames stay in order; a still frame carries the boxes of the
        last frame of its stream that was detected, in this call or before)."""
        need = []
        for s, f in turn:
            if s.gate is None or s.gate.check(f):
                need.append((s, f))
                if s.gate is not None:
                    s.gate.detected(f)  # the reference for the frames after it, in this call too
        found: dict[int, tuple[Detections, dict, tuple]] = {}
        if need:
            # every frame's regions (or the whole frame) in one detector call
            images, plans = [], []
            for s, f in need:
                plan = s.regions.plan(f) if s.regions is not None else None
                plans.append((len(images), plan))
                images.extend([f.image] if plan is None else [crop(f.image, r) for r in plan])
            lead = turn[0][0].engine
            snap = lead.models.snapshot()
            all_dets, share = lead.detect(snap, images, len(need))
            for (s, f), (start, plan) in zip(need, plans):
                dets = all_dets[start] if plan is None else s.regions.merge(
                    f, plan, all_dets[start:start + len(plan)], snap.detector.iou_threshold)
                found[id(f)] = (dets, share, tuple(plan or ()))
        for s, f in turn:
            m = s.engine.models.snapshot()
            if id(f) in found:
                dets, share, looked = found[id(f)]
                s._last_raw = dets
                yield s, s.engine.finish(m, f, dets, dict(share), regions=looked)
            else:  # nothing moved since the last detection: its boxes still hold
                yield s, s.engine.finish(m, f, s._last_raw, {}, inferred=False)
