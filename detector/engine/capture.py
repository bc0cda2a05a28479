"""The capture thread and the buffers that hand its frames to the models.

Exactly one thread owns a source: it opens it, reads it, and releases it in ``finally``. It stops
when its Event is set and is joined with a timeout. Live sources hand frames over through a
latest-frame slot (a newer frame replaces an unconsumed one, counted as dropped); files through a
bounded blocking queue (every frame, in order, with backpressure).
"""
from __future__ import annotations

import collections
import threading
import time
from dataclasses import dataclass

from detector.types.frames import Frame
from detector.engine.config import lossless_run, source_options
from detector.io.sources import Source, SourceError, SourceOptions, is_live_spec, mask_url, open_source
from detector.engine.stats import Stats


class EndOfStream(Exception):
    """The buffer is closed and empty: the source ended or failed."""


# Bytes of frames a lossless queue holds at most, besides its frame count: 8 frames of 768x576 take
# 10 MB, while 8 of 8K (7680x4320) would take 800 MB; the byte bound keeps big frames to a few.
QUEUE_BYTES = 128 * 2**20


def _frame_bytes(item) -> int:
    image = getattr(item, "image", None)
    if image is None:  # a Result: its frame's pixels are what it holds
        image = getattr(getattr(item, "frame", None), "image", None)
    return int(getattr(image, "nbytes", 0))


class FrameBuffer:
    """Thread-safe hand-over. ``overwrite=True``: latest-frame slot; else a FIFO that blocks when it
    holds ``capacity`` items or ``max_bytes`` of pixels (one item always fits, however big)."""

    def __init__(self, capacity: int, overwrite: bool, max_bytes: int = QUEUE_BYTES):
        self.capacity, self.overwrite, self.max_bytes = capacity, overwrite, max_bytes
        self._items: collections.deque = collections.deque()
        self._bytes = 0
        self._cond = threading.Condition()
        self._closed = False
        self.dropped = 0
        self._reported = 0
        self.notify: threading.Event | None = None  # set on every put: wakes a scheduler serving several buffers

    def _full(self, incoming: int) -> bool:
        return len(self._items) >= self.capacity or (bool(self._items) and self._bytes + incoming > self.max_bytes)

    def new_drops(self) -> int:
        """Frames dropped since the last call: what a consumer adds to its own running count (which
        spans sources, while this buffer's count starts at 0 with its capture)."""
        with self._cond:
            n, self._reported = self.dropped - self._reported, self.dropped
            return n

    def put(self, frame, stop: threading.Event) -> bool:
        """Add a frame; False if stopped while waiting for room."""
        size = _frame_bytes(frame)
        with self._cond:
            if self.overwrite:
                while self._full(size):
                    self._bytes -= _frame_bytes(self._items.popleft())
                    self.dropped += 1
            else:
                while self._full(size):
                    if stop.is_set():
                        return False
                    self._cond.wait(0.1)
            self._items.append(frame)
            self._bytes += size
            self._cond.notify_all()
        if self.notify is not None:
            self.notify.set()
        return True

    def get(self, timeout: float = 0.5):
        """The next frame; None on timeout; EndOfStream once closed and drained."""
        with self._cond:
            if not self._items and not self._closed:
                self._cond.wait(timeout)
            if self._items:
                frame = self._items.popleft()
                self._bytes -= _frame_bytes(frame)
                self._cond.notify_all()
                return frame
            if self._closed:
                raise EndOfStream
            return None

    def close(self) -> None:
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self.notify is not None:
            self.notify.set()


@dataclass(frozen=True)
class CapturePolicy:
    """live: latest frame wins. play_realtime: pace a file at its own rate (``--live``). loop: restart files."""

    live: bool
    play_realtime: bool = False
    loop: bool = False
    queue_size: int = 8
    reconnect_attempts: int = 5
    reconnect_backoff_s: float = 0.5
    source: SourceOptions = SourceOptions()  # connect timeout, RTSP transport, camera mode

    @property
    def open_timeout_s(self) -> float:
        return self.source.open_timeout_s


def capture_policy(config, window: bool = False) -> CapturePolicy:
    """How a stream's source is read, from its RunConfig: the one place a policy is built.

    A run (``window`` False): live sources (and ``--live`` files) keep the newest frame, files every
    frame. The window always shows the newest frame, a file played at its own rate, unless
    ``--lossless`` (``config.live`` False) asks for every frame."""
    common = dict(loop=config.loop, queue_size=config.queue_size, reconnect_attempts=config.reconnect_attempts,
                  source=source_options(config))
    if not window:
        return CapturePolicy(live=not lossless_run(config), play_realtime=config.play_realtime, **common)
    if config.live is False:
        return CapturePolicy(live=False, **common)
    return CapturePolicy(live=True, play_realtime=bool(config.source) and not is_live_spec(config.source), **common)


class CaptureThread(threading.Thread):
    """Owns one source. ``start()``, then ``wait_open()`` for its description or its error."""

    def __init__(self, spec: str, policy: CapturePolicy, stats: Stats, log=None, stream: str = ""):
        """``log``: gets one line per event a user should see (a lost stream, each reconnect try, the
        camera mode granted); the CLI prints them, the window shows them in its status bar.
        ``stream``: the name its frames carry in a run of several streams."""
        super().__init__(name="lookout-capture", daemon=True)
        self.spec, self.policy, self.stats, self.stream = spec, policy, stats, stream
        self.log = log or (lambda msg: None)
        self.buffer = FrameBuffer(1 if policy.live else policy.queue_size, overwrite=policy.live)
        self.stop_event = threading.Event()
        self.opened = threading.Event()
        self.source: Source | None = None
        self.error: Exception | None = None
        # While ``hold`` is set a file source waits before each read (the window's pause);
        # ``step()`` lets one frame through. Cameras keep reading: their frames can't wait.
        self.hold = threading.Event()
        self._steps = threading.Semaphore(0)
        self.reconnecting = False  # between losing a live source and getting it back (a window shows it)

    def step(self) -> None:
        self._steps.release()

    def _wait_while_held(self, source: Source) -> bool:
        """True if the source waited (so real-time pacing must re-anchor)."""
        waited = False
        while self.hold.is_set() and not source.live and not self.stop_event.is_set():
            waited = True
            if self._steps.acquire(timeout=0.1):
                break
        return waited

    def wait_open(self, timeout: float = 60.0) -> Source:
        if not self.opened.wait(timeout):
            self.stop()
            raise SourceError(f"opening {mask_url(self.spec)!r} took over {timeout:.0f} s; check the source")
        if self.error is not None:
            raise self.error
        return self.source

    def stop(self, join_timeout: float = 2.0) -> None:
        self.stop_event.set()
        self.buffer.close()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(join_timeout)

    def _reconnect(self, source: Source) -> bool:
        self.reconnecting = True
        try:
            return self._reconnect_tries(source)
        finally:
            self.reconnecting = False

    def _reconnect_tries(self, source: Source) -> bool:
        delay = self.policy.reconnect_backoff_s
        tries = self.policy.reconnect_attempts
        for i in range(tries):
            self.stats.count("reconnects")
            self.log(f"lost {source.description}; reconnecting in {delay:g} s (try {i + 1} of {tries})")
            if self.stop_event.wait(delay):
                return False
            if source.reopen():
                self.log(f"reconnected to {source.description}")
                self._report_mode(source)
                return True
            delay = min(delay * 2, 8.0)
        return False

    def _report_mode(self, source: Source) -> None:
        granted = getattr(source, "granted", None)
        if granted is None:
            return
        asked = self.policy.source.camera
        self.stats.info["camera"] = {"asked": asked.to_json(), "granted": granted.to_json()}
        if asked and granted.differs_from(asked):
            self.log(f"{source.description}: asked for {asked.describe()}, the camera gave {granted.describe()}")
        else:
            self.log(f"{source.description}: {granted.describe()}")

    def run(self) -> None:
        source = None
        try:
            source = open_source(self.spec, self.policy.source)
            self.source = source
            self._report_mode(source)
            self.opened.set()
            self._loop(source)
        except Exception as e:  # handed to the consumer (wait_open / error), never lost with the thread
            self.error = e
        finally:
            if source is not None:
                source.close()
            self.buffer.close()
            self.opened.set()

    def _loop(self, source: Source) -> None:
        t0, pts_offset, last_pts, index_offset, last_index, bad_seen = None, 0.0, 0.0, 0, -1, 0
        skipped_seen = 0
        while not self.stop_event.is_set():
            if self._wait_while_held(source):
                t0 = None  # resume real-time playback from here, not from before the pause
            t_read = time.perf_counter()
            raw = source.read()
            if source.bad > bad_seen:
                self.stats.count("bad_frames", source.bad - bad_seen)
            bad_seen = source.bad
            for reason in source.skipped[skipped_seen:]:  # images over the pixel limit, never decoded
                self.stats.count("skipped_images")
                self.log(f"warning: {reason}")
            skipped_seen = len(source.skipped)
            if raw is None:
                if source.live:
                    if self._reconnect(source):
                        continue
                    if not self.stop_event.is_set():
                        raise SourceError(f"lost {source.description} and could not reconnect after "
                                          f"{self.policy.reconnect_attempts} tries")
                    return
                if source.missing:
                    self.stats.count("missing_frames", source.missing)
                    source.missing = 0
                if self.policy.loop and last_index >= 0 and source.rewind():
                    pts_offset = last_pts + (1000.0 / source.fps if source.fps else 0.0)
                    index_offset = last_index + 1
                    bad_seen = source.bad
                    continue
                return
            self.stats.add_latency("decode", (time.perf_counter() - t_read) * 1000)
            last_pts = raw.pts_ms + pts_offset
            last_index = raw.index + index_offset
            if self.policy.play_realtime and source.fps:
                # Play the file as a camera would deliver it: wait for the frame's moment.
                if t0 is None:
                    t0 = time.monotonic() - last_pts / 1000.0
                delay = t0 + last_pts / 1000.0 - time.monotonic()
                if delay > 0 and self.stop_event.wait(delay):
                    return
            frame = Frame(raw.image, last_index, last_pts, time.monotonic(), source.description, self.stream)
            self.stats.count("captured")
            if not self.buffer.put(frame, self.stop_event):
                return
