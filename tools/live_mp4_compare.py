"""How much of a live recording a kill loses, and what it costs: a fragmented MP4 (a fragment a frame, as
Lookout writes it, or a fragment a key frame) against short segments (each a whole faststart file).

Feeds the frames of a clip to Lookout's writer at the clip's rate (timestamps only, no sleeping) and,
every few frames, counts what a player would find on disk right then (what a ``kill -9`` would leave).
The lag is the written frames' time minus the last playable frame's time. Prints, per layout: the
worst and mean lag in seconds, the encoder's CPU time a frame, and the bytes written.

    python tools/live_mp4_compare.py [CLIP] [--frames N] [--every K]
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from detector.io import video_out  # noqa: E402
from detector.io.video_out import AvWriter, playable_frames  # noqa: E402


def frames_of(path: str, n: int):
    cap = cv2.VideoCapture(path)
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out = []
    if not cap.isOpened():
        raise SystemExit(f"cannot read {path}")
    while len(out) < n:
        ok, f = cap.read()
        if not ok:  # loop the clip
            cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, f = cap.read()
            if not ok:
                raise SystemExit(f"cannot read frames from {path}")
        out.append(f)
    return out, fps


def run(layout: str, frames, fps: float, every: int, segment_s: float = 2.0):
    folder = Path(tempfile.mkdtemp(prefix="lookout-cmp-"))
    size = (frames[0].shape[1], frames[0].shape[0])
    cpu = 0.0
    lags = []
    seg_frames, done_frames, writer, seg_start, k = 0, 0, None, 0.0, 0
    for i, f in enumerate(frames):
        t = i / fps
        c0 = time.process_time()
        if layout == "fmp4":
            if writer is None:
                writer = AvWriter(folder / "rec.mp4", size, fps, "libx264", live=True)
        elif writer is None or t - seg_start >= segment_s:
            if writer is not None:
                writer.close()
                done_frames += seg_frames
            k += 1
            writer, seg_start, seg_frames = AvWriter(folder / f"seg{k:04d}.mp4", size, fps, "libx264"), t, 0
        writer.write(f, t - (0 if layout == "fmp4" else seg_start))
        seg_frames += 1
        cpu += time.process_time() - c0
        if i % every == every - 1:
            playable = playable_frames(folder / "rec.mp4") if layout == "fmp4" else done_frames
            lags.append((i + 1 - playable) / fps)
    writer.close()
    size_b = sum(p.stat().st_size for p in folder.iterdir())
    shutil.rmtree(folder)
    return max(lags), sum(lags) / len(lags), cpu / len(frames) * 1000, size_b


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip", nargs="?", default=str(Path(os.environ.get("LOOKOUT_SHARED", ROOT.parent / "shared")) / "media" / "vtest.avi"))
    ap.add_argument("--frames", type=int, default=300)
    ap.add_argument("--every", type=int, default=3)
    a = ap.parse_args()
    frames, fps = frames_of(a.clip, a.frames)
    print(f"{a.clip}: {len(frames)} frames {frames[0].shape[1]}x{frames[0].shape[0]} at {fps:g} fps")
    per_frame = video_out.LIVE_MOVFLAGS
    per_key = per_frame.replace("frag_every_frame", "frag_keyframe")
    for layout, seg, flags in (("fmp4", 0, per_frame), ("fmp4", 0, per_key), ("segments", 1.0, ""),
                               ("segments", 2.0, "")):
        video_out.LIVE_MOVFLAGS = flags or per_frame
        worst, mean, ms, size = run(layout, frames, fps, a.every, seg)
        name = ("fmp4/frame" if flags == per_frame else "fmp4/key") if layout == "fmp4" else f"{seg:g} s segments"
        print(f"{name:>14}: lag worst {worst:.2f} s mean {mean:.2f} s / encode {ms:.1f} ms CPU a frame / "
              f"{size / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
