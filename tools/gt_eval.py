"""Person detection against human ground truth: AP50, recall and precision at the default threshold,
and recall of people under 120 px tall, for ``--regions off``, ``grid``, ``auto`` and the default,
on MOTChallenge-layout sequences (``SEQ/img1/*.jpg`` + ``SEQ/gt/gt.txt``).

usage: python tools/gt_eval.py SEQ [SEQ ...] [--modes off,grid,auto,default] [--as-video] [--out DIR]

Ground truth (the MOT17Det convention): rows with class 1 (pedestrian) and conf 1 are the people to
find; classes 2 (person on vehicle), 7 (static person), 8 (distractor) and 12 (reflection) are
"don't care" (a box matching one is neither right nor wrong). Boxes are clipped to the frame.
Matching: IoU >= 0.5, one box a person, best score first (``regions_eval.score``).

Each mode runs the real command line on the sequence's image folder (images: ``auto`` is ``grid``
by the default rule); ``--as-video`` first writes the frames as an MJPEG clip, so ``auto`` plans as
it does for a camera (the first frame gets the whole grid).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from regions_eval import run, score  # noqa: E402

PEOPLE, DONT_CARE = {1}, {2, 7, 8, 12}


def load_truth(seq: str) -> tuple[list[str], list[dict]]:
    """The sequence's frame paths (sorted) and, per frame, {"gt": [[x1,y1,x2,y2]...], "ignore": [...]}."""
    frames = sorted(glob.glob(os.path.join(seq, "img1", "*.jpg")))
    h, w = cv2.imread(frames[0]).shape[:2]
    rows = np.loadtxt(os.path.join(seq, "gt", "gt.txt"), delimiter=",", ndmin=2)
    truth = []
    for i in range(1, len(frames) + 1):
        r = rows[rows[:, 0] == i]
        xyxy = np.clip(np.stack([r[:, 2] - 1, r[:, 3] - 1, r[:, 2] - 1 + r[:, 4], r[:, 3] - 1 + r[:, 5]], 1),
                       0, [w, h, w, h])
        cls, conf = r[:, 7].astype(int), r[:, 6]
        gt = np.isin(cls, list(PEOPLE)) & (conf == 1)
        ign = np.isin(cls, list(DONT_CARE))
        truth.append({"gt": xyxy[gt].round(1).tolist(), "ignore": xyxy[ign].round(1).tolist()})
    return frames, truth


def as_video(frames: list[str], path: str) -> str:
    h, w = cv2.imread(frames[0]).shape[:2]
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (w, h))
    for f in frames:
        out.write(cv2.imread(f))
    out.release()
    return path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sequences", nargs="+", help="MOTChallenge-layout folders (img1/, gt/gt.txt)")
    ap.add_argument("--modes", default="off,grid,auto,default")
    ap.add_argument("--as-video", action="store_true", help="run each sequence as an MJPEG clip, not images")
    ap.add_argument("--out", default="/tmp/gt_eval")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    data = [(os.path.basename(os.path.normpath(s)), *load_truth(s)) for s in args.sequences]
    people = sum(len(t["gt"]) for _, _, tr in data for t in tr)
    print(f"{len(data)} sequences, {sum(len(f) for _, f, _ in data)} frames, {people} people "
          f"({'video' if args.as_video else 'images'})")
    for mode in args.modes.split(","):
        all_truth, all_lines, cpu, regions = [], [], [], []
        for tag, frames, truth in data:
            src = as_video(frames, os.path.join(args.out, tag + ".avi")) if args.as_video else os.path.dirname(frames[0])
            lines, stats, ms = run(src, mode, args.out, tag=tag)
            assert len(lines) == len(truth), (tag, len(lines), len(truth))
            all_truth += truth
            all_lines += lines
            cpu.append(ms)
            regions.append(stats.get("regions", {}).get("per_frame"))
        print(json.dumps({"mode": mode, **score(all_truth, all_lines), "regions_per_frame": regions,
                          "cpu_ms_per_frame": round(float(np.mean(cpu)), 1)}))


if __name__ == "__main__":
    main()
