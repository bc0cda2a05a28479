"""Batch throughput on this machine, side by side in one run: --ray off, --ray local (2 workers x 1
thread), and one `lookout` process per input from a shell loop, on the same 8 clips.

    python tools/batch_throughput.py [--frames 150]

The clips: vtest.avi (../shared/media) cut into 8 stretches of --frames frames each, re-encoded
losslessly enough (MJPEG q2) that decode cost is like the original's.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VTEST = ROOT.parent / "shared" / "media" / "vtest.avi"


def make_clips(folder: Path, frames: int) -> list[Path]:
    import cv2
    cap = cv2.VideoCapture(str(VTEST))
    clips = []
    for i in range(8):
        path = folder / f"clip{i}.avi"
        w = None
        for _ in range(frames):
            ok, img = cap.read()
            if not ok:
                cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
                ok, img = cap.read()
            if w is None:
                w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (img.shape[1], img.shape[0]))
            w.write(img)
        w.release()
        clips.append(path)
    return clips


def timed(cmd: list[str]) -> float:
    t0 = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = make_clips(tmp, args.frames)
        total = len(clips) * args.frames
        rows = []
        off = timed([py, str(ROOT / "main.py"), "batch", *map(str, clips), "--out", str(tmp / "off"), "--ray", "off",
                     "--no-progress"])
        rows.append(("--ray off", off, None))
        local = timed([py, str(ROOT / "main.py"), "batch", *map(str, clips), "--out", str(tmp / "local"), "--ray",
                       "local", "--workers", "2", "--threads-per-worker", "1", "--no-progress"])
        startup = json.loads((tmp / "local" / "summary.json").read_text())["run"]["startup_s"]
        rows.append(("--ray local --workers 2 --threads-per-worker 1", local, startup))
        t0 = time.monotonic()
        for c in clips:
            subprocess.run([py, str(ROOT / "main.py"), "--source", str(c), "--detections", str(tmp / f"{c.stem}.jsonl"),
                            "--no-progress"], check=True, capture_output=True)
        rows.append(("shell loop, one lookout per input", time.monotonic() - t0, None))
        same = all((tmp / "off" / f"{c.stem}.jsonl").read_bytes() == (tmp / "local" / f"{c.stem}.jsonl").read_bytes()
                   == (tmp / f"{c.stem}.jsonl").read_bytes() for c in clips)
    print(f"8 clips x {args.frames} frames of vtest.avi ({total} frames), detections JSONL, default model")
    for name, wall, startup in rows:
        extra = f"; Ray start-up (instance + workers loading models) {startup:.1f} s" if startup else ""
        print(f"  {name:50s} {wall:6.1f} s wall, {total / wall:6.1f} frames/s{extra}")
    print(f"  outputs identical across the three: {same}")


if __name__ == "__main__":
    main()
