"""Tracking accuracy on the MOT sequences that ship with ``motmetrics`` (TUD-Campus, TUD-Stadtmitte).

usage: python tools/mot_eval.py [lookout|bytetrack|sort] [--match M] [--buffer B]

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


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("lookout", "bytetrack", "sort"))
    ap.add_argument("--match", type=float)
    ap.add_argument("--buffer", type=int)
    a = ap.parse_args()
    print(json.dumps({"tracker": a.kind, **evaluate(a.kind, a.match, a.buffer)}))
