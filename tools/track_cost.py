"""CPU a frame of tracking with and without appearance vectors, through the real ``lookout`` command.

usage: flock /tmp/bench.lock python tools/track_cost.py [--source VIDEO] [--streams N] [--frames F] [--tracker-only]

``--tracker-only``: the detector once over the first F frames, then the tracker alone over its boxes
with and without appearance vectors, in this process: CPU time (``time.process_time``) a frame of
the tracker and of the embedding in it, the boxes embedded a frame and the confident boxes a frame.

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


def tracker_only(source: str, frames: int) -> dict:
    import time as _time

    import cv2
    sys.path.insert(0, ROOT)
    from detector import Detector, Tracker
    from detector.runtime.onnx.appearance import Appearance
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu")
    cap, images = cv2.VideoCapture(source), []
    while len(images) < (frames or 10 ** 9):
        ok, f = cap.read()
        if not ok:
            break
        images.append(f)
    dets = [det.detect(f) for f in images]
    embed, seen = Appearance.shared(), {"boxes": 0, "cpu": 0.0}

    def counted(image, boxes):
        t0 = _time.process_time()
        out = embed(image, boxes)
        seen["cpu"] += _time.process_time() - t0
        seen["boxes"] += len(boxes)
        return out
    out = {"frames": len(dets), "confident_boxes_a_frame": round(sum(int((d.scores >= 0.5).sum()) for d in dets) / len(dets), 2)}
    for name, fn in (("off", None), ("on", counted)):
        tracker, t0 = Tracker(embed=fn), _time.process_time()
        for i, d in enumerate(dets):
            tracker.update(d, i / 10, images[i])
        out[f"tracker_cpu_ms_a_frame_appearance_{name}"] = round((_time.process_time() - t0) * 1000 / len(dets), 3)
    out["embedding_cpu_ms_a_frame"] = round(seen["cpu"] * 1000 / len(dets), 3)
    out["boxes_embedded_a_frame"] = round(seen["boxes"] / len(dets), 2)
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--source", default=os.path.join(ROOT, "assets", "demo_vtest.mp4"))
    ap.add_argument("--streams", type=int, default=1)
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--tracker-only", action="store_true")
    a = ap.parse_args()
    if a.tracker_only:
        print(json.dumps(tracker_only(a.source, a.frames)))
        sys.exit(0)
    for appearance in (False, True):
        print(json.dumps(one_run(a.source, a.streams, a.frames, appearance)), flush=True)
