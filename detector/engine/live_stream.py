"""One stream of the window's live session: its source (which the user may switch), its own Engine,
tracker, counters and stats, its pause and step, and its newest result for the GUI thread to pull.

A ``streams.Stream`` to the scheduler, driven by the session's engine thread; the GUI thread only
reads ``latest()`` and ``state`` and sends requests (``switch``, ``pause``, ``step``).
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from dataclasses import replace

from detector.engine.capture import CaptureThread, capture_policy
from detector.engine.config import RunConfig
from detector.engine.models import Models
from detector.engine.stream_engine import Engine
from detector.engine.stats import Stats
from detector.engine.stream_parts import motion_gate, stream_regions
from detector.engine.streams import Stream
from detector.io.sources import mask_url
from detector.types.frames import Frame
from detector.types.results import Result

# What a window shows of a stream: (kind, spec, text). kind: "opening", "playing" (text: the
# source's description), "ended" (a file played to its end), "failed" (text: why: it never opened, or
# it was lost for good) or "none" (nothing asked yet).
IDLE_STATE = ("none", "", "")


class LiveStream(Stream):
    def __init__(self, config: RunConfig, models: Models, log: Callable[[str], None]):
        """``config``: the stream's options, as a run's (source, stream name, conf, weight, --motion,
        --regions, the capture policy's); its source opens on the engine thread's next turn.
        ``log``: where its capture's lines and its own (playing, ended, lost) go."""
        super().__init__(config.stream or "", None, Engine(models, Stats(), min_score=config.conf),
                         weight=config.weight)
        self.config = config
        self.models, self.log = models, log
        self.done = True  # nothing to poll until its capture starts
        self.description = ""
        self.paused = False
        self._lock = threading.Lock()
        self._steps = 0
        self._stepped: Frame | None = None  # the last frame let through by a step while paused
        self._latest: Result | None = None
        self._seq = 0
        self._pending: RunConfig | None = config
        self._deadline = 0.0
        self.state: tuple[str, str, str] = ("opening", config.source, "")

    # ---- requests (any thread) -------------------------------------------------------------------
    def switch(self, spec: str) -> None:
        """Play ``spec`` instead, with the stream's other options, from the engine thread's next turn on."""
        with self._lock:
            self._pending = replace(self.config, source=spec)
            self.state = ("opening", spec, "")

    def latest(self) -> tuple[Result | None, int]:
        """The newest result and its sequence number (1 for the first, +1 for each next)."""
        with self._lock:
            return self._latest, self._seq

    def pause(self, paused: bool) -> None:
        self.paused = paused
        self.stats.set_paused(paused)
        cap = self.capture
        if cap is not None:
            (cap.hold.set if paused else cap.hold.clear)()

    def step(self) -> None:
        """While paused: one more frame."""
        with self._lock:
            self._steps += 1
        cap = self.capture
        if cap is not None:
            cap.step()

    @property
    def reconnecting(self) -> bool:
        cap = self.capture
        return cap is not None and cap.reconnecting

    # ---- the engine thread -------------------------------------------------------------------------
    def poll(self, timeout: float = 0.0) -> Frame | None:
        frame = super().poll(timeout)
        if frame is None or not self.paused:
            return frame
        with self._lock:
            if self._steps:
                self._steps -= 1
                self._stepped = frame
                return frame
        # paused, nothing new shows: a camera is drained (its frames cannot wait); a file is held at its
        # capture, and the frame or two it read before the pause are dropped too, unless every frame
        # counts (a lossless window)
        return None if self.capture.policy.live else frame

    def publish(self, result: Result) -> None:
        cap = self.capture
        if self.paused and result.frame is not self._stepped and cap is not None and cap.policy.live:
            return  # taken before the pause, done after it: a pause shows nothing new from when it was asked
        with self._lock:
            self._latest, self._seq = result, self._seq + 1

    def update(self) -> None:
        """Start a pending source, notice one that opened, failed, ended or took too long to open."""
        with self._lock:
            pending, self._pending = self._pending, None
        if pending is not None:
            self._start(pending)
        cap = self.capture
        if cap is None:
            return
        kind = self.state[0]
        if kind == "opening" and cap.opened.is_set() and cap.error is None:
            self.description = cap.source.description
            self.stats.info.update({"source": self.description, "policy": "live" if cap.policy.live else "lossless"})
            if self.models.analytics is not None:  # a new scene: tracks and counts start again
                self.models.analytics.reset()
            self._set_state("playing", cap.spec, self.description)
            self.log(f"playing {self.description}")
        elif kind == "opening" and not cap.opened.is_set() and time.monotonic() > self._deadline:
            self._end(f"opening {mask_url(cap.spec)!r} took over {cap.policy.open_timeout_s + 5:.0f} s; check the source")
        elif self.done:
            err = self.error or cap.error
            if err is None:
                self.log(f"end of {self.description}")
                self._end(None)
            else:
                self._end(str(err) if cap.source is None else f"source lost: {err}")

    def _start(self, config: RunConfig) -> None:
        self.close()
        self.config = config
        self.stats.info.pop("camera", None)  # the next source reports its own mode, if it is a camera
        self.stats.restart_rates()
        policy = capture_policy(config, window=True)
        cap = CaptureThread(config.source, policy, self.stats, log=self.log, stream=self.name)
        if self.paused:
            cap.hold.set()
        cap.start()
        self.capture, self.done, self.error, self._last_raw = cap, False, None, None
        # another scene: nothing to compare its first frames with; the stages as a run builds them
        self.gate = motion_gate(config, policy.live)
        self.regions = stream_regions(config, self.models, policy.live, image_source=False)
        self._deadline = time.monotonic() + policy.open_timeout_s + 5

    def _end(self, error: str | None) -> None:
        spec = self.capture.spec
        self.close()
        if error is None:
            self._set_state("ended", spec, self.description)
        else:
            self.log(error)
            self._set_state("failed", spec, error)

    def _set_state(self, kind: str, spec: str, text: str) -> None:
        with self._lock:
            if self._pending is None:  # a newer request's "opening" stands
                self.state = (kind, spec, text)

    def close(self, join_timeout: float = 2.0) -> None:
        """Stop its capture (joined with ``join_timeout``); the last result stays on show."""
        cap, self.capture = self.capture, None
        self.done = True
        if cap is not None:
            cap.stop(join_timeout)
