"""Benchmark: prints latency (median / p90 ms) per frame, side by side, in one run.

usage: python -m detector.bench [--frames 100] [--threads 2] [--tf-python /tmp/ref/bin/python]

Detector, full path (preprocess + network + decoding + NMS), batch 1, on the same decoded
vtest.avi frames (768x576) for every runtime, after warm-up. With ``--tf-python`` naming a Python
that has tensorflow-cpu, the original frozen graph runs on the same frames with the same thread
count, and the ratio is printed. Not a test: numbers, for people to read.
"""
from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"


def load_frames(video: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        raise SystemExit(f"bench: cannot read frames from {video}")
    return frames


def time_calls(fn, frames, warmup: int) -> list[float]:
    for f in frames[:warmup]:
        fn(f)
    ms = []
    for f in frames:
        t = time.perf_counter()
        fn(f)
        ms.append((time.perf_counter() - t) * 1000)
    return ms


def fmt(name: str, ms: list[float], ref: float | None = None) -> str:
    med, p90 = np.median(ms), np.percentile(ms, 90)
    ratio = f"{med / ref:6.2f}x" if ref else "      "
    return f"| {name:<40} | {med:8.2f} | {p90:8.2f} | {ratio} |"


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def bench_tf(python: str, frames: list[np.ndarray], threads: int, warmup: int) -> dict | None:
    graph = SHARED / "models" / "ssdlite_mobilenet_v2_person_frozen_inference_graph.pb"
    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "frames.npy", np.stack(frames))
        p = subprocess.run([python, str(ROOT / "tools" / "tf_bench.py"), str(graph), str(Path(d) / "frames.npy"),
                            str(threads), str(warmup)], capture_output=True, text=True)
    if p.returncode != 0:
        print(f"bench: TensorFlow reference failed: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return None
    return json.loads(p.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m detector.bench")
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--video", default=str(SHARED / "media" / "vtest.avi"))
    ap.add_argument("--tf-python", help="a Python with tensorflow-cpu, to time the original graph")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from detector import Detector

    frames = load_frames(Path(args.video), args.frames)
    print(f"# Lookout benchmark — {platform.processor() or platform.machine()}, {torch.get_num_threads()} threads, "
          f"torch {torch.__version__}, numpy {np.__version__}, opencv {cv2.__version__}, python {platform.python_version()}")
    print(f"# {len(frames)} frames of {Path(args.video).name} ({frames[0].shape[1]}x{frames[0].shape[0]}), "
          f"warm-up {args.warmup}, batch 1")
    rows = []
    ref = None
    if args.tf_python:
        tf = bench_tf(args.tf_python, frames, args.threads, args.warmup)
        if tf:
            ref = float(np.median(tf["ms"]))
            rows.append(fmt(f"TF {tf['tf']} frozen graph (reference)", tf["ms"]) + f" {tf['rss_mb']:.0f} MB")
    det = Detector.load(device="cpu")
    ms = time_calls(det.detect, frames, args.warmup)
    rows.append(fmt("Lookout eager fp32 (CPU)", ms, ref) + f" {peak_rss_mb():.0f} MB")
    print("| detector, full path                      | median ms | p90 ms | vs TF | peak RSS")
    print("|---|---|---|---|")
    for r in rows:
        print(r)
    return 0


if __name__ == "__main__":
    sys.exit(main())
