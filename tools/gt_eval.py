"""Person detection against human ground truth: AP50, recall and precision at the default threshold,
and recall of people under 120 px tall, for ``--regions off``, ``grid``, ``auto`` and the default,
on MOTChallenge-layout sequences (``SEQ/img1/*.jpg`` + ``SEQ/gt/gt.txt``).

usage: python tools/gt_eval.py SEQ [SEQ ...] [--modes off,grid,auto,default] [--as-video] [--canvas WxH]
                              [--gt gt.txt] [--out DIR]

Ground truth (the MOT17Det convention): rows with class 1 (pedestrian) and conf 1 are the people to
find; classes 2 (person on vehicle), 7 (static person), 8 (distractor) and 12 (reflection) are
"don't care" (a box matching one is neither right nor wrong). Boxes are clipped to the frame.
Matching: IoU >= 0.5, one box a person, best score first (``regions_eval.score``).

Each mode runs the real command line on the sequence's image folder (images: ``auto`` is ``grid``
by the default rule); ``--as-video`` first writes the frames as an MJPEG clip, so ``auto`` plans as
it does for a camera (the first frame gets the whole grid). ``--canvas 3840x2160`` places each frame
1:1 at the centre of a black frame that size first (a 4K camera whose people are as small as the
sequence's; the ground truth moves with them). ``--gt NAME``: the file in ``SEQ/gt/`` (MOT15's
10-column files are not read by class: give a 9-column copy with class 1).
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


def load_truth(seq: str, gt: str = "gt.txt") -> tuple[list[str], list[dict]]:
    """The sequence's frame paths (sorted) and, per frame, {"gt": [[x1,y1,x2,y2]...], "ignore": [...]}."""
    frames = sorted(glob.glob(os.path.join(seq, "img1", "*.jpg")))
    h, w = cv2.imread(frames[0]).shape[:2]
    rows = np.loadtxt(os.path.join(seq, "gt", gt), delimiter=",", ndmin=2)
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


def as_video(frames: list[str], path: str, canvas: tuple[int, int] | None = None) -> str:
    """The frames as an MJPEG clip at 10 fps; ``canvas`` (w, h): each placed 1:1 at its centre."""
    h, w = cv2.imread(frames[0]).shape[:2]
    size = canvas or (w, h)
    out = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, size)
    dx, dy = placement(canvas, w, h)
    for f in frames:
        image = cv2.imread(f)
        if canvas:
            big = np.zeros((size[1], size[0], 3), np.uint8)
            big[dy:dy + h, dx:dx + w] = image
            image = big
        out.write(image)
    out.release()
    return path


def placement(canvas: tuple[int, int] | None, w: int, h: int) -> tuple[int, int]:
    """Where a w x h frame's top-left corner goes on the canvas (centred; (0, 0) without one)."""
    return ((canvas[0] - w) // 2, (canvas[1] - h) // 2) if canvas else (0, 0)


def moved(truth: list[dict], dx: int, dy: int) -> list[dict]:
    off = [dx, dy, dx, dy]
    return [{k: (np.asarray(v, np.float64).reshape(-1, 4) + off).tolist() for k, v in t.items()} for t in truth]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("sequences", nargs="+", help="MOTChallenge-layout folders (img1/, gt/gt.txt)")
    ap.add_argument("--modes", default="off,grid,auto,default")
    ap.add_argument("--as-video", action="store_true", help="run each sequence as an MJPEG clip, not images")
    ap.add_argument("--canvas", metavar="WxH", help="with --as-video: each frame placed 1:1 at the centre of a "
                                                    "black frame this size (e.g. 3840x2160)")
    ap.add_argument("--gt", default="gt.txt", help="the ground-truth file's name in SEQ/gt/ (default gt.txt)")
    ap.add_argument("--out", default="/tmp/gt_eval")
    args = ap.parse_args()
    canvas = None
    if args.canvas:
        w, _, h = args.canvas.lower().partition("x")
        if not (w.isdigit() and h.isdigit() and args.as_video):
            ap.error(f"expected --canvas WxH (e.g. 3840x2160) with --as-video, got {args.canvas!r}")
        canvas = (int(w), int(h))
    os.makedirs(args.out, exist_ok=True)
    data = []
    for s in args.sequences:
        frames, truth = load_truth(s, args.gt)
        h, w = cv2.imread(frames[0]).shape[:2]
        if canvas and (w > canvas[0] or h > canvas[1]):
            ap.error(f"{s}: its {w}x{h} frames do not fit on a {args.canvas} canvas")
        data.append((os.path.basename(os.path.normpath(s)), frames, moved(truth, *placement(canvas, w, h))))
    people = sum(len(t["gt"]) for _, _, tr in data for t in tr)
    print(f"{len(data)} sequences, {sum(len(f) for _, f, _ in data)} frames, {people} people "
          f"({'video' if args.as_video else 'images'}{' on a ' + args.canvas + ' canvas' if canvas else ''})")
    for mode in args.modes.split(","):
        all_truth, all_lines, cpu, regions = [], [], [], []
        for tag, frames, truth in data:
            src = as_video(frames, os.path.join(args.out, tag + ".avi"), canvas) if args.as_video else \
                os.path.dirname(frames[0])
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
