"""Does ``--regions`` find the people a 300 x 300 model cannot see in a big frame? Prints AP50,
recall and precision at the default threshold, recall of people under 120 px, regions and detector
crops a frame, and CPU a frame, for ``--regions off``, ``grid`` and ``auto`` (and the default).

usage: python tools/regions_eval.py [--frames 60] [--video ../shared/media/vtest.avi] [--out /tmp/regions_eval]
                                    [--layout 1080p|4k] [--modes off,grid,auto,default]

The scene is real footage at its own scale in a big frame:
- ``1080p``: six 640 x 540 crops of the clip, each from another moment, side by side in 1920 x 1080
  (about 30 people a frame, 50-190 px tall: a busy street seen by a 1080p camera);
- ``4k``: the 768 x 576 clip at 1:1 in the middle of 3840 x 2160 (the issue's check).
The reference boxes are what the same model finds in each tile (or the clip) at its own size, where
it sees the people well: people at >= 0.5, and 0.25-0.5 as "don't care" (a box matching one is
neither right nor wrong). Matching: IoU >= 0.5, one box a person, best score first.

Each mode runs the real command line (``main.py --source big.avi --detections ... --stats-json``),
one after another, under ``/usr/bin/time`` for CPU seconds.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys

import cv2
import numpy as np

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
sys.path.insert(0, ROOT)

TILE_W, TILE_H, COLS, ROWS = 640, 540, 3, 2
GT_SCORE, CARE_SCORE = 0.5, 0.25


def build(video: str, frames: int, layout: str, out: str, gt_score: float = GT_SCORE) -> tuple[str, list[dict]]:
    """Write the big clip (MJPEG .avi) and the reference boxes per frame: [{"gt": [[x1,y1,x2,y2]...],
    "ignore": [...]}]."""
    from detector import Detector
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu", score_threshold=CARE_SCORE)
    cap = cv2.VideoCapture(video)
    clip = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        clip.append(f)
    n = len(clip)
    path = os.path.join(out, f"big_{layout}.avi")
    if layout == "4k":
        W, H = 3840, 2160
        h, w = clip[0].shape[:2]
        place = [((W - w) // 2, (H - h) // 2, 0, 0, w, h, 0)]
    else:
        W, H = TILE_W * COLS, TILE_H * ROWS
        h, w = clip[0].shape[:2]
        sx, sy = (w - TILE_W) // 2, (h - TILE_H) // 2
        place = [(c * TILE_W, r * TILE_H, sx, sy, TILE_W, TILE_H, (r * COLS + c) * (n // (COLS * ROWS)))
                 for r in range(ROWS) for c in range(COLS)]
    if layout == "4k":  # a 4K camera's H.264, decoded as Lookout decodes it
        path = path[:-4] + ".mp4"
        enc = subprocess.Popen(["ffmpeg", "-y", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "bgr24", "-s",
                                f"{W}x{H}", "-r", "10", "-i", "-", "-c:v", "libx264", "-preset", "veryfast", "-crf", "18",
                                "-pix_fmt", "yuv420p", path], stdin=subprocess.PIPE)
        write = enc.stdin.write
    else:
        writer = cv2.VideoWriter(path, cv2.VideoWriter_fourcc(*"MJPG"), 10, (W, H))
        write = writer.write
    for i in range(frames):
        canvas = np.zeros((H, W, 3), np.uint8)
        for dx, dy, sx, sy, tw, th, t0 in place:
            canvas[dy:dy + th, dx:dx + tw] = clip[(t0 + i) % n][sy:sy + th, sx:sx + tw]
        write(canvas if layout != "4k" else canvas.tobytes())
    if layout == "4k":
        enc.stdin.close()
        enc.wait()
    else:
        writer.release()
    # reference boxes on the frames as Lookout will decode them
    cap = cv2.VideoCapture(path)
    truth = []
    for i in range(frames):
        ok, f = cap.read()
        gt, ign = [], []
        for dx, dy, sx, sy, tw, th, t0 in place:
            d = det.detect(np.ascontiguousarray(f[dy:dy + th, dx:dx + tw]))
            for b, s, c in zip(d.xyxy, d.scores, d.class_ids):
                if c != 1:
                    continue
                b = np.clip(b, 0, [tw, th, tw, th]) + [dx, dy, dx, dy]
                (gt if s >= gt_score else ign).append([round(float(v), 1) for v in b])
        truth.append({"gt": gt, "ignore": ign})
    return path, truth


def _iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    from detector.ops.iou import box_iou
    return box_iou(a.reshape(-1, 4), b.reshape(-1, 4))


def score(truth: list[dict], lines: list[dict], small_px: float = 120, match: float = 0.5) -> dict:
    """AP at IoU ``match`` (AP50 by default; all-point interpolated), recall and precision of every box
    written, recall of people under ``small_px`` tall."""
    rows, n_gt, small_total, small_found = [], 0, 0, 0
    for t, line in zip(truth, lines):
        gt = np.array(t["gt"], np.float32).reshape(-1, 4)
        ign = np.array(t["ignore"], np.float32).reshape(-1, 4)
        dets = [d for d in line["detections"] if d["label"] == "person"]
        dets.sort(key=lambda d: -d["score"])
        boxes = np.array([d["xyxy"] for d in dets], np.float32).reshape(-1, 4)
        taken = np.zeros(len(gt), bool)
        iou = _iou(boxes, gt)
        iou_ign = _iou(boxes, ign)
        for k, d in enumerate(dets):
            j = int(np.argmax(np.where(taken, -1, iou[k]))) if len(gt) else -1
            if j >= 0 and iou[k, j] >= match and not taken[j]:
                taken[j] = True
                rows.append((d["score"], 1))
            elif len(ign) and iou_ign[k].max() >= match:
                continue  # a "don't care" person: neither right nor wrong
            else:
                rows.append((d["score"], 0))
        n_gt += len(gt)
        small = (gt[:, 3] - gt[:, 1]) < small_px
        small_total += int(small.sum())
        small_found += int((small & taken).sum())
    rows.sort(key=lambda r: -r[0])
    tp = np.cumsum([r[1] for r in rows])
    fp = np.cumsum([1 - r[1] for r in rows])
    recall = tp / max(n_gt, 1)
    precision = tp / np.maximum(tp + fp, 1)
    ap = 0.0
    if len(rows):
        mrec = np.concatenate([[0], recall, [1]])
        mpre = np.concatenate([[1], precision, [0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        ap = float(np.sum((mrec[1:] - mrec[:-1]) * mpre[1:]))
    return {"ap50": round(ap, 3), "recall": round(float(recall[-1]) if len(rows) else 0.0, 3),
            "precision": round(float(precision[-1]) if len(rows) else 0.0, 3),
            "small_found": f"{small_found}/{small_total}", "people": n_gt}


def run(source: str, mode: str, out: str, extra: tuple[str, ...] = (), tag: str = "dets") -> tuple[list[dict], dict, float]:
    """The command line on ``source`` with ``--regions mode`` (none for "default") and ``extra``
    options: its JSONL lines, its --stats-json and its CPU (user + system) ms a frame."""
    jsonl = os.path.join(out, f"{tag}_{mode}.jsonl")
    stats = os.path.join(out, f"{tag}_{mode}.json")
    cmd = [sys.executable, os.path.join(ROOT, "main.py"), "--source", source, "--detections", jsonl, "--stats-json", stats,
           "--headless", "--overwrite", *extra]
    if mode != "default":
        cmd += ["--regions", mode]
    t = subprocess.run(["/usr/bin/time", "-f", "%U %S", *cmd], capture_output=True, text=True, check=True)
    user, system = map(float, t.stderr.strip().splitlines()[-1].split())
    lines = [json.loads(x) for x in open(jsonl)]
    return lines, json.load(open(stats)), (user + system) / max(len(lines), 1) * 1000


def picture(path: str, out_png: str, at: int = 12) -> None:
    """Frame ``at`` of the big clip twice, one above the other: the whole frame squeezed (what
    ``--regions off`` finds) and the regions ``auto`` looked at with what it found."""
    from detector import Detector
    from detector.engine.regions import RegionPlanner, RegionSpec
    from detector.ops import regions as ops
    from detector.types.frames import Frame
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu")
    planner = RegionPlanner(RegionSpec("auto"), min(det.input_size))
    cap = cv2.VideoCapture(path)
    for i in range(at + 1):
        ok, f = cap.read()
        frame = Frame(f, i, i * 100.0, 0.0, path)
        plan = planner.plan(frame)
        found = planner.merge(frame, plan, det.detect_batch([ops.crop(f, r) for r in plan]), det.iou_threshold)
    colours = {"full": (255, 255, 255), "grid": (200, 200, 200), "object": (0, 200, 255), "motion": (255, 0, 255),
               "sweep": (255, 200, 0)}

    def boxes(img, dets, colour):
        for b, c in zip(dets.xyxy, dets.class_ids):
            if c == 1:
                cv2.rectangle(img, (int(b[0]), int(b[1])), (int(b[2]), int(b[3])), colour, 3)
    whole = f.copy()
    off = det.detect(f)
    boxes(whole, off, (0, 255, 0))
    cv2.putText(whole, f"--regions off: {int((off.class_ids == 1).sum())} people", (20, 60), 0, 2, (255, 255, 255), 4)
    looked = f.copy()
    for r in plan:
        cv2.rectangle(looked, (r.x0 + 3, r.y0 + 3), (r.x1 - 4, r.y1 - 4), colours[r.kind], 4)
        cv2.putText(looked, r.kind, (r.x0 + 10, r.y1 - 14), 0, 1.2, colours[r.kind], 3)
    boxes(looked, found, (0, 255, 0))
    cv2.putText(looked, f"--regions auto: {len(plan)} regions, {int((found.class_ids == 1).sum())} people",
                (20, 60), 0, 2, (255, 255, 255), 4)
    both = np.concatenate([whole, looked], axis=0)
    scale = 1280 / both.shape[1]
    cv2.imwrite(out_png, cv2.resize(both, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA),
                [cv2.IMWRITE_JPEG_QUALITY, 85])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--video", default=os.path.join(ROOT, "..", "shared", "media", "vtest.avi"))
    ap.add_argument("--frames", type=int, default=60)
    ap.add_argument("--layout", choices=("1080p", "4k"), default="1080p")
    ap.add_argument("--modes", default="off,grid,auto,default")
    ap.add_argument("--out", default="/tmp/regions_eval")
    ap.add_argument("--picture", metavar="JPG", help="also draw frame 12's regions and boxes (docs/regions.jpg)")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    # 4k: the people whole-frame detection finds in the clip itself, at the default threshold (the check)
    path, truth = build(args.video, args.frames, args.layout, args.out, 0.3 if args.layout == "4k" else GT_SCORE)
    with open(os.path.join(args.out, "truth.json"), "w") as f:
        json.dump(truth, f)
    if args.picture:
        picture(path, args.picture)
    print(f"{args.layout}: {args.frames} frames, {sum(len(t['gt']) for t in truth)} reference people "
          f"({sum(len(t['ignore']) for t in truth)} don't-care)")
    for mode in args.modes.split(","):
        lines, stats, cpu_ms = run(path, mode, args.out, ("--max-frames", str(args.frames), "--model", "ssd-mobilenetv2-coco"))
        r = stats.get("regions", {})
        print(json.dumps({"mode": mode, **score(truth, lines), "regions_per_frame": r.get("per_frame"),
                          "calls_per_frame": r.get("calls_per_frame"), "cpu_ms_per_frame": round(cpu_ms, 1),
                          "at_iou_0.3": score(truth, lines, match=0.3)}))


if __name__ == "__main__":
    main()
