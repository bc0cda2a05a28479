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

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from detector.analytics.mot import (evaluate, frames_at_rate, load_motmetrics, lookout_tracker, read_boxes,  # noqa: E402
                                    to_tlwh)

mm = load_motmetrics()


def peer_tracker(kind: str):
    """Roboflow's ``trackers`` (bytetrack / sort) as a function (xyxy (N, 4)) -> track ids (N,)."""
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


def end_to_end(source: str, gt: str | None = None, rate: float | None = None, label: str = "person",
               options: list[str] | None = None, keep: str | None = None) -> dict:
    import contextlib
    import subprocess
    import tempfile
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if keep:
        os.makedirs(keep, exist_ok=True)
    with (contextlib.nullcontext(keep) if keep else tempfile.TemporaryDirectory(prefix="lookout-mot-")) as tmp:
        video, fps, which = frames_at_rate(source, rate, os.path.join(tmp, "frames.avi"))
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
    truth = read_boxes(gt, people_only=True) if gt else {}
    for k, line in enumerate(lines):
        dets = [d for d in line["detections"] if d["label"] == label and d.get("track_id", -1) >= 0]
        for d in dets:
            lengths[d["track_id"]] = lengths.get(d["track_id"], 0) + 1
        if acc is not None and k < len(which) and (k == 0 or which[k] != which[k - 1]):
            g_ids, g_boxes = truth.get(which[k] + 1, (np.zeros(0, int), np.zeros((0, 4))))
            boxes = np.array([d["xyxy"] for d in dets], np.float64).reshape(-1, 4)
            acc.update(g_ids, [d["track_id"] for d in dets], mm.distances.iou_matrix(to_tlwh(g_boxes), to_tlwh(boxes), max_iou=0.5))
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
        ap.add_argument("--keep", metavar="DIR", help="write the video, detections and events here and keep them")
        a = ap.parse_args(argv)
        print(json.dumps(end_to_end(a.source, a.gt, a.rate, a.label, extra, a.keep)))
        sys.exit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("lookout", "bytetrack", "sort"))
    ap.add_argument("--match", type=float)
    ap.add_argument("--buffer", type=int)
    a = ap.parse_args()
    make = (lambda: lookout_tracker(a.match, a.buffer)) if a.kind == "lookout" else (lambda: peer_tracker(a.kind))
    print(json.dumps({"tracker": a.kind, **evaluate(make)}))
