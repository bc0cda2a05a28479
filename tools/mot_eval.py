"""Tracking accuracy: the tracker alone on hidden detections, or Lookout end to end on a sequence.

usage: python tools/mot_eval.py [lookout|bytetrack|sort] [--match M] [--buffer B]
       python tools/mot_eval.py run SOURCE [--gt gt.txt] [--rate FPS] [--label person] [-- LOOKOUT OPTIONS]

``run``: ``lookout --source SOURCE --track --events DIR`` (defaults, or the options after ``--``),
then from its detections JSONL and events.jsonl: the tracks of ``--label`` (how many, median
length in frames), the events of that label; with ``--gt`` (MOTChallenge ``gt.txt``: frame, id,
x, y, w, h, conf, class, visibility; rows with conf 0 or a class other than 1 are not people to
find) also IDF1, MOTA, ID switches and events per person (motmetrics, IoU 0.5). SOURCE is a
video or a MOTChallenge sequence folder (``img1/`` + ``seqinfo.ini``: its frames are written to
a lossless video at the sequence's rate first). ``--rate FPS`` writes the frames into a video at
that rate instead, each source frame repeated for as long as it lasts (10 fps at 25: 2, 3, 2, 3,
... copies: a camera at a higher rate watching the same scene); the ground truth is then compared
on the first copy of each frame. One JSON line out.

The hidden-detection mode: tracking accuracy on the MOT sequences that ship with ``motmetrics``
(TUD-Campus, TUD-Stadtmitte).

Detections are the boxes of another tracker's output that motmetrics ships beside the ground truth
(``test.txt``, IDs dropped, every box scored 1.0); each tracker sees the same boxes frame by frame.
Prints one JSON line per sequence and an overall one: MOTA, IDF1, ID switches (motmetrics, IoU 0.5).
``lookout`` is ``detector.Tracker``; ``bytetrack`` / ``sort`` are Roboflow's ``trackers`` package,
run from a throwaway venv (``pip install trackers==2.1.0 motmetrics``), never from Lookout's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

if not hasattr(np, "asfarray"):  # motmetrics 1.4 calls np.asfarray, gone in NumPy 2
    np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)

import motmetrics as mm  # noqa: E402

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")


def load(seq: str) -> tuple[dict, dict]:
    """(ground truth, detections) per frame: {frame: (ids (N,), xyxy (N, 4))}."""
    folder = os.path.join(os.path.dirname(mm.__file__), "data", seq)

    def read(name):
        rows = np.loadtxt(os.path.join(folder, name), delimiter=",", ndmin=2)
        out = {}
        for f in np.unique(rows[:, 0]).astype(int):
            r = rows[rows[:, 0] == f]
            out[f] = (r[:, 1].astype(int), np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1))
        return out
    return read("gt.txt"), read("test.txt")


def make_tracker(kind: str, match: float | None, buffer: int | None):
    """A function (xyxy (N, 4)) -> track ids (N,), -1 for untracked boxes."""
    if kind == "lookout":
        sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
        from detector import Detections, Tracker
        opts = {k: v for k, v in (("match_threshold", match), ("track_buffer", buffer)) if v is not None}
        tracker = Tracker(**opts)

        def step(xyxy):
            n = len(xyxy)
            dets = Detections(xyxy.astype(np.float32), np.ones(n, np.float32), np.ones(n, np.int64), ("person",) * n)
            return tracker.update(dets).track_ids
        return step
    import supervision as sv
    from trackers import ByteTrackTracker, SORTTracker
    tracker = ByteTrackTracker(frame_rate=25.0) if kind == "bytetrack" else SORTTracker(frame_rate=25.0)

    def step(xyxy):
        n = len(xyxy)
        out = tracker.update(sv.Detections(xyxy=xyxy.astype(np.float32), confidence=np.ones(n, np.float32),
                                           class_id=np.zeros(n, int)))
        # trackers returns the tracked boxes; map them back to the input boxes by identity of coordinates
        ids = np.full(n, -1)
        for box, tid in zip(out.xyxy, out.tracker_id):
            j = int(np.argmin(np.abs(xyxy - box).sum(1)))
            ids[j] = tid
        return ids
    return step


def evaluate(kind: str, match: float | None = None, buffer: int | None = None) -> dict:
    accs, names = [], []
    for seq in SEQUENCES:
        gt, dets = load(seq)
        step = make_tracker(kind, match, buffer)
        acc = mm.MOTAccumulator(auto_id=True)
        for f in range(1, max(max(gt), max(dets)) + 1):
            g_ids, g_boxes = gt.get(f, (np.zeros(0, int), np.zeros((0, 4))))
            d_boxes = dets.get(f, (None, np.zeros((0, 4))))[1]
            ids = step(d_boxes) if len(d_boxes) else step(np.zeros((0, 4)))
            keep = ids >= 0
            tl = lambda b: np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)  # noqa: E731
            acc.update(g_ids, ids[keep], mm.distances.iou_matrix(tl(g_boxes), tl(d_boxes[keep]), max_iou=0.5))
        accs.append(acc)
        names.append(seq)
    mh = mm.metrics.create()
    summary = mh.compute_many(accs, metrics=["mota", "idf1", "num_switches"], names=names, generate_overall=True)
    return {name: {"MOTA": round(float(r["mota"]), 4), "IDF1": round(float(r["idf1"]), 4),
                   "ID_switches": int(r["num_switches"])} for name, r in summary.iterrows()}


def _frames_video(source: str, rate: float | None, out: str) -> tuple[str, float, list[int]]:
    """``source`` as a video Lookout can read at ``rate`` fps (None: its own), each frame repeated
    for as long as it lasts: (path, the source's rate, the source frame (0-based) of each frame
    written). A video at its own rate is used as it is."""
    import configparser
    import glob

    import cv2
    if os.path.isdir(source):
        ini = configparser.ConfigParser()
        ini.read(os.path.join(source, "seqinfo.ini"))
        fps = float(ini["Sequence"]["frameRate"]) if ini.has_section("Sequence") else 25.0
        frames = iter(sorted(glob.glob(os.path.join(source, "img1", "*.jpg"))))
        read = lambda: (lambda f: cv2.imread(f) if f else None)(next(frames, None))  # noqa: E731
    else:
        cap = cv2.VideoCapture(source)
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if rate is None:
            n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            return source, fps, list(range(n))
        read = lambda: (lambda ok_f: ok_f[1] if ok_f[0] else None)(cap.read())  # noqa: E731
    rate = rate or fps
    writer, which, k = None, [], 0
    while (frame := read()) is not None:
        if writer is None:  # MJPEG at top quality: every frame kept, decodable by every FFmpeg
            writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"MJPG"), rate, frame.shape[1::-1])
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
        # output frame i shows the source frame that is on screen at time i / rate
        while int(len(which) * fps / rate + 1e-9) == k:
            writer.write(frame)
            which.append(k)
        k += 1
    writer.release()
    return out, fps, which


def _read_gt(path: str) -> dict:
    """{frame: (ids, xyxy)} of the people to find (MOTChallenge: conf 1 and class 1 where given)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if rows.shape[1] >= 8:
        rows = rows[(rows[:, 6] != 0) & (rows[:, 7] == 1)]
    out = {}
    for f in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == f]
        out[f] = (r[:, 1].astype(int), np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1))
    return out


def end_to_end(source: str, gt: str | None = None, rate: float | None = None, label: str = "person",
               options: list[str] | None = None) -> dict:
    import subprocess
    import tempfile
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    with tempfile.TemporaryDirectory(prefix="lookout-mot-") as tmp:
        video, fps, which = _frames_video(source, rate, os.path.join(tmp, "frames.avi"))
        jsonl, events = os.path.join(tmp, "d.jsonl"), os.path.join(tmp, "events")
        opts = options if options else ["--track", "--events", events]
        if "--events" not in opts:
            opts = [*opts, "--events", events]
        p = subprocess.run([sys.executable, os.path.join(root, "main.py"), "--source", video, "--headless",
                            "--detections", jsonl, "--no-progress", *opts], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"lookout failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
        lines = [json.loads(x) for x in open(jsonl, encoding="utf-8")]
        evs = [json.loads(x) for x in open(os.path.join(events, "events.jsonl"), encoding="utf-8")] \
            if os.path.exists(os.path.join(events, "events.jsonl")) else []
    ends = {e["id"]: e for e in evs if e.get("end_pts_ms") is not None}  # the log has starts and ends
    by_label: dict[str, int] = {}
    for e in ends.values():
        if e["kind"] == "object":
            by_label[e["label"]] = by_label.get(e["label"], 0) + 1
    lengths: dict[int, int] = {}
    acc = mm.MOTAccumulator(auto_id=True) if gt else None
    truth = _read_gt(gt) if gt else {}
    tl = lambda b: np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)  # noqa: E731
    for k, line in enumerate(lines):
        dets = [d for d in line["detections"] if d["label"] == label and d.get("track_id", -1) >= 0]
        for d in dets:
            lengths[d["track_id"]] = lengths.get(d["track_id"], 0) + 1
        if acc is not None and k < len(which) and (k == 0 or which[k] != which[k - 1]):
            g_ids, g_boxes = truth.get(which[k] + 1, (np.zeros(0, int), np.zeros((0, 4))))
            boxes = np.array([d["xyxy"] for d in dets], np.float64).reshape(-1, 4)
            acc.update(g_ids, [d["track_id"] for d in dets], mm.distances.iou_matrix(tl(g_boxes), tl(boxes), max_iou=0.5))
    out = {"source": os.path.basename(source.rstrip("/")), "frames": len(lines), "fps": round(rate or fps, 3),
           f"{label}_tracks": len(lengths),
           "median_track_frames": float(np.median(list(lengths.values()))) if lengths else 0.0,
           f"{label}_events": by_label.get(label, 0), "events_by_label": by_label}
    if acc is not None:
        r = mm.metrics.create().compute(acc, metrics=["idf1", "mota", "num_switches", "num_unique_objects"])
        people = int(r["num_unique_objects"].iloc[0])
        out.update(IDF1=round(float(r["idf1"].iloc[0]), 4), MOTA=round(float(r["mota"].iloc[0]), 4),
                   ID_switches=int(r["num_switches"].iloc[0]), people=people,
                   events_per_person=round(by_label.get(label, 0) / max(people, 1), 3))
    return out


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        argv = sys.argv[2:]
        extra = argv[argv.index("--") + 1:] if "--" in argv else []
        argv = argv[:argv.index("--")] if "--" in argv else argv
        ap = argparse.ArgumentParser(prog="mot_eval.py run")
        ap.add_argument("source")
        ap.add_argument("--gt")
        ap.add_argument("--rate", type=float)
        ap.add_argument("--label", default="person")
        a = ap.parse_args(argv)
        print(json.dumps(end_to_end(a.source, a.gt, a.rate, a.label, extra)))
        sys.exit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("lookout", "bytetrack", "sort"))
    ap.add_argument("--match", type=float)
    ap.add_argument("--buffer", type=int)
    a = ap.parse_args()
    print(json.dumps({"tracker": a.kind, **evaluate(a.kind, a.match, a.buffer)}))
