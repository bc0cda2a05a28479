"""Run statistics: per-stage latencies (p50/p95), counters, and rates, shared across threads."""
from __future__ import annotations

import collections
import threading
import time

import numpy as np

STAGES = ("decode", "preprocess", "detect", "classify", "draw", "write", "age")
RATES = ("captured", "inferred", "written")


class Stats:
    """Thread-safe. Latencies keep the last ``window`` samples per stage, in milliseconds."""

    def __init__(self, window: int = 2000):
        self._lock = threading.Lock()
        self._lat: dict[str, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=window))
        self._counts: collections.Counter = collections.Counter()
        self._recent: dict[str, collections.deque] = collections.defaultdict(lambda: collections.deque(maxlen=64))
        self.started = time.monotonic()
        self.info: dict[str, object] = {}

    def add_latency(self, stage: str, ms: float) -> None:
        with self._lock:
            self._lat[stage].append(ms)

    def count(self, name: str, n: int = 1) -> None:
        with self._lock:
            self._counts[name] += n
            if name in RATES:
                self._recent[name].append(time.monotonic())

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
        """Events per second: over the last 64 events when ``recent``, else over the whole run."""
        with self._lock:
            stamps = list(self._recent.get(name, ()))
            total = self._counts[name]
        if recent:
            if len(stamps) < 2 or stamps[-1] == stamps[0]:
                return 0.0
            return (len(stamps) - 1) / (stamps[-1] - stamps[0])
        elapsed = time.monotonic() - self.started
        return total / elapsed if elapsed > 0 else 0.0

    def line(self) -> str:
        """A compact live line for the terminal."""
        det = self.percentiles("detect")
        age = self.percentiles("age")
        cam = self.info.get("camera", {}).get("granted")
        mode = f"{cam['width']}x{cam['height']} {cam['fps']:g} fps {cam['fourcc']}".rstrip() + " | " if cam else ""
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
