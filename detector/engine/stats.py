"""Run statistics: per-stage latencies (p50/p95), counters, and rates, shared across threads."""
from __future__ import annotations

import collections
import threading
import time

import numpy as np

STAGES = ("decode", "preprocess", "detect", "classify", "draw", "write", "age")
RATES = ("captured", "inferred", "written")
RATE_WINDOW_S = 2.0


class RateMeter:
    """Events a second over the last ``window_s`` seconds of real time, since the last ``restart()``.

    A window over the last N events would span a pause (or a source switch) and show a rate
    nobody measured: 10 fps long into a pause, a fraction of the real rate right after it."""

    def __init__(self, window_s: float = RATE_WINDOW_S):
        self.window_s = window_s
        self._stamps: collections.deque = collections.deque()

    def tick(self, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        self._stamps.append(now)
        self._trim(now)

    def restart(self) -> None:
        self._stamps.clear()

    def rate(self, now: float | None = None) -> float:
        now = time.monotonic() if now is None else now
        self._trim(now)
        n = len(self._stamps)
        if n < 2:  # no interval measured since the restart yet
            return 0.0
        first, last = self._stamps[0], self._stamps[-1]
        if last <= first:
            return 0.0
        # Over the intervals seen, so the wait for the first event after a restart does not count;
        # once the silence since the last event is longer than a usual interval it counts, so a
        # stalled source decays to 0 instead of keeping its old rate for a whole window.
        typical = (last - first) / (n - 1)
        return (n - 1) / max(last - first, now - first - typical)

    def _trim(self, now: float) -> None:
        while self._stamps and self._stamps[0] <= now - self.window_s:
            self._stamps.popleft()


class Stats:
    """Thread-safe. Latencies keep the last ``window`` samples per stage, in milliseconds."""

    def __init__(self, window: int = 2000):
        self._lock = threading.Lock()
        self._lat: dict[str, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=window))
        self._counts: collections.Counter = collections.Counter()
        self._recent: dict[str, RateMeter] = collections.defaultdict(RateMeter)
        self.started = time.monotonic()
        self.paused = False
        self.info: dict[str, object] = {}

    def add_latency(self, stage: str, ms: float) -> None:
        with self._lock:
            self._lat[stage].append(ms)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n
            if name in RATES:
                self._recent[name].tick()

    def set_paused(self, paused: bool) -> None:
        """While paused the recent rates read 0 and the overlay says so; a resume starts them afresh."""
        with self._lock:
            self.paused = paused
            if not paused:
                self._restart_rates()

    def restart_rates(self) -> None:
        """A new source: its rates are measured from now, not mixed with the old one's."""
        with self._lock:
            self._restart_rates()

    def _restart_rates(self) -> None:
        for meter in self._recent.values():
            meter.restart()

    def get(self, name: str) -> int:
        with self._lock:
            return self._counts[name]

    def percentiles(self, stage: str) -> tuple[float, float]:
        with self._lock:
            data = list(self._lat.get(stage, ()))
        if not data:
            return 0.0, 0.0
        p50, p95 = np.percentile(data, [50, 95])
        return float(p50), float(p95)

    def rate(self, name: str, recent: bool = True) -> float:
        """Events per second: over the last RATE_WINDOW_S seconds since the last resume or source
        switch when ``recent`` (0 while paused), else over the whole run."""
        with self._lock:
            if recent:
                meter = self._recent.get(name)
                return 0.0 if self.paused or meter is None else meter.rate()
            total = self._counts[name]
        elapsed = time.monotonic() - self.started
        return total / elapsed if elapsed > 0 else 0.0

    def camera_text(self) -> str:
        """The mode the camera granted (it may differ from --width/--height/--fps/--fourcc), or ""."""
        cam = self.info.get("camera", {}).get("granted")
        return f"{cam['width']}x{cam['height']} {cam['fps']:g} fps {cam['fourcc']}".rstrip() if cam else ""

    def line(self) -> str:
        """A compact live line for the terminal."""
        det = self.percentiles("detect")
        age = self.percentiles("age")
        mode = self.camera_text() + " | " if self.camera_text() else ""
        return (f"{mode}cap {self.rate('captured'):5.1f} fps | infer {self.rate('inferred'):5.1f} fps | "
                f"out {self.rate('written'):5.1f} fps | detect {det[0]:5.1f}/{det[1]:5.1f} ms | "
                f"age {age[0]:5.1f}/{age[1]:5.1f} ms | dropped {self.get('dropped')} | bad {self.get('bad_frames')}")

    def summary(self) -> dict:
        lat = {}
        for s in STAGES:
            p50, p95 = self.percentiles(s)
            if p50 or p95:
                lat[s] = {"p50_ms": round(p50, 2), "p95_ms": round(p95, 2)}
        with self._lock:
            counts = dict(self._counts)
        return {**self.info, "elapsed_s": round(time.monotonic() - self.started, 3),
                "frames": {k: counts.get(k, 0) for k in ("captured", "inferred", "written", "dropped",
                                                          "bad_frames", "missing_frames", "reconnects")},
                "fps": {k: round(self.rate(k, recent=False), 2) for k in RATES},
                "latency": lat}
