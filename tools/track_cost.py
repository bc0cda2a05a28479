"""CPU a frame of tracking with and without appearance vectors, through the real ``lookout`` command.

usage: flock /tmp/bench.lock python tools/track_cost.py [--source VIDEO] [--streams N] [--frames F]

Runs ``lookout --source VIDEO (N times, as N streams) --track --headless --max-frames F`` once with
the appearance vectors (the default) and once with ``--no-appearance``, and prints one JSON line
each: the process's CPU time (user + system, from the OS) per frame of all streams (a file run is
lossless: every frame of every stream is processed) and the wall time. The difference between the
two runs is what the batched embedding costs. Take the lock so no other benchmark runs at once.
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def one_run(source: str, streams: int, frames: int, appearance: bool) -> dict:
    import cv2
    n = int(cv2.VideoCapture(source).get(cv2.CAP_PROP_FRAME_COUNT))
    done = streams * (min(frames, n) if frames else n)
    sources = [a for k in range(streams) for a in ("--source", f"s{k}={source}")]
    before, t0 = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
    p = subprocess.run([sys.executable, os.path.join(ROOT, "main.py"), *sources, "--track", "--headless",
                        "--no-progress", "--max-frames", str(frames), *([] if appearance else ["--no-appearance"])],
                       capture_output=True, text=True)
    wall, after = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_CHILDREN)
    if p.returncode != 0:
        raise SystemExit(p.stderr[-2000:])
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {"appearance": appearance, "streams": streams, "frames": done,
            "cpu_ms_per_frame": round(cpu * 1000 / done, 2), "wall_s": round(wall, 2)}


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=os.path.join(ROOT, "assets", "demo_vtest.mp4"))
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--frames", type=int, default=60)
    a = ap.parse_args()
    for appearance in (False, True):
        print(json.dumps(one_run(a.source, a.streams, a.frames, appearance)), flush=True)
