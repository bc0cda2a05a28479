"""The kill loop: a live run recording two RTSP streams (GStreamer's server on loopback: video, JSONL,
events with tracking) killed with SIGKILL at a random moment, then ``lookout recover``; N times.
Each time every recording plays, every JSONL line parses, the index passes integrity_check and no
event is left open (tests/kill_helpers.check_recovered); the losses are printed, the worst last.
``--power-cut``: the folder is copied while the run goes on (a disk image at a random moment), and
the copy is recovered instead.

    python tools/kill_loop.py [--kills 20] [--min-s 5] [--max-s 40] [--power-cut] [--seed S]

Losses (see tests/kill_helpers): "jsonl" is how far before the kill the last recovered line's frame
was captured (it includes the frames still queued in the pipeline, which grows on a loaded machine);
"video" adds the frames the JSONL has and the recovered video does not; "file lag" is that part
alone, in seconds of the stream.
"""
from __future__ import annotations

import argparse
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from kill_helpers import (STREAMS, Watch, check_recovered, copy_as_disk_image, kill9, long_h264_clip,  # noqa: E402
                          recover, run_for, start_run, wait_until_recording)
from test_cli import ENV  # noqa: E402
from test_rtsp import Server, free_port  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--min-s", type=float, default=5.0)
    ap.add_argument("--max-s", type=float, default=40.0)
    ap.add_argument("--power-cut", action="store_true")
    ap.add_argument("--seed", type=int, default=None)
    a = ap.parse_args()
    rng = random.Random(a.seed)
    work = Path(tempfile.mkdtemp(prefix="lookout-kill-"))
    clip = long_h264_clip(work / "clip.mp4", repeats=int(a.max_s // 6) + 4)
    worst_video = worst_jsonl = worst_lag = 0.0
    failed = 0
    try:
        for k in range(a.kills):
            servers = {s: Server(clip, free_port()).start() for s in STREAMS}
            out = work / f"run{k:02d}"
            out.mkdir()
            try:
                watch = Watch()
                proc = start_run({s: v.url() for s, v in servers.items()}, out, ENV)
                wait_until_recording(proc, out, watch)
                t_start = time.monotonic()  # the kill comes 5-40 s into the recording, whatever the start-up took
                at = rng.uniform(a.min_s, a.max_s)
                run_for(proc, out, watch, max(0.0, at - (time.monotonic() - t_start)))
                if a.power_cut:
                    image = work / f"image{k:02d}"
                    cut = time.time()
                    copy_as_disk_image(out, image)
                    kill9(proc)
                    target = image
                else:
                    cut = kill9(proc)
                    target = out
                r = recover(target, ENV)
                if r.returncode != 0:
                    raise AssertionError(f"lookout recover exited {r.returncode}: {r.stdout}{r.stderr}")
                try:
                    losses = check_recovered(target, watch, cut)
                    again = recover(target, ENV)
                    assert again.stdout.strip() == f"lookout: nothing to recover in {target}", again.stdout
                except AssertionError as e:
                    failed += 1
                    losses = []
                    print(f"kill {k + 1:2d} at {at:5.1f} s FAILED: {e}\n  recover said: {r.stdout.strip()}",
                          flush=True)
            finally:
                for v in servers.values():
                    v.kill()
            for s in losses:
                lag = s.video_loss_s - s.jsonl_loss_s
                worst_video, worst_jsonl = max(worst_video, s.video_loss_s), max(worst_jsonl, s.jsonl_loss_s)
                worst_lag = max(worst_lag, lag)
                print(f"kill {k + 1:2d} at {at:5.1f} s {s.stream}: video {s.video_frames} frames, jsonl {s.lines} lines; "
                      f"loss jsonl {s.jsonl_loss_s:.2f} s video {s.video_loss_s:.2f} s (file lag {lag:.2f} s)", flush=True)
            shutil.rmtree(out, ignore_errors=True)
            if a.power_cut:
                shutil.rmtree(work / f"image{k:02d}", ignore_errors=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"{a.kills} {'power cuts' if a.power_cut else 'kills'}: {a.kills - failed} recovered, {failed} failed; worst loss video {worst_video:.2f} s, "
          f"jsonl {worst_jsonl:.2f} s, file lag {worst_lag:.2f} s")


if __name__ == "__main__":
    main()
