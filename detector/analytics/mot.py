"""Tracking accuracy against MOTChallenge ground truth, for the tests and ``tools/mot_eval.py``.

Boxes are xyxy pixels; a sequence's frames are numbered from 1, as MOTChallenge numbers them.
``evaluate`` needs motmetrics (the test extra), imported when called. ``frames_at_rate`` makes the
video a camera at a higher rate would give of the same scene: each frame repeated for as long as it
lasts.
"""
from __future__ import annotations

import os
from typing import Callable

import numpy as np

SEQUENCES = ("TUD-Campus", "TUD-Stadtmitte")  # the sequences motmetrics ships with its ground truth

Boxes = dict  # {frame: (ids (N,), xyxy (N, 4))}


def read_boxes(path: str, people_only: bool = False) -> Boxes:
    """A MOTChallenge text file (frame, id, x, y, w, h, conf, class, visibility) as {frame: (ids,
    xyxy)}; ``people_only``: the rows ground truth marks as people to find (conf not 0, class 1,
    where given)."""
    rows = np.loadtxt(path, delimiter=",", ndmin=2)
    if people_only and rows.shape[1] >= 8:
        rows = rows[(rows[:, 6] != 0) & (rows[:, 7] == 1)]
    out = {}
    for f in np.unique(rows[:, 0]).astype(int):
        r = rows[rows[:, 0] == f]
        out[f] = (r[:, 1].astype(int), np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1))
    return out


def load_motmetrics():
    if not hasattr(np, "asfarray"):  # motmetrics 1.4 calls np.asfarray, gone in NumPy 2
        np.asfarray = lambda a, dtype=np.float64: np.asarray(a, dtype=dtype)
    import motmetrics
    return motmetrics


def load_sequence(seq: str) -> tuple[Boxes, Boxes]:
    """(ground truth, detections) of a sequence motmetrics ships: the detections are the boxes of
    another tracker's output (``test.txt``), whose IDs the caller drops."""
    folder = os.path.join(os.path.dirname(load_motmetrics().__file__), "data", seq)
    return read_boxes(os.path.join(folder, "gt.txt")), read_boxes(os.path.join(folder, "test.txt"))


def to_tlwh(b: np.ndarray) -> np.ndarray:
    return np.stack([b[:, 0], b[:, 1], b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]], 1)


def lookout_tracker(match: float | None = None, buffer: int | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """A fresh ``detector.Tracker`` as a function (xyxy (N, 4)) -> track ids (N,), -1 for untracked boxes."""
    from detector.analytics.tracker import Tracker
    from detector.types.detections import Detections
    opts = {k: v for k, v in (("match_threshold", match), ("track_buffer", buffer)) if v is not None}
    tracker = Tracker(**opts)

    def step(xyxy):
        n = len(xyxy)
        dets = Detections(xyxy.astype(np.float32), np.ones(n, np.float32), np.ones(n, np.int64), ("person",) * n)
        return tracker.update(dets).track_ids
    return step


def evaluate(make_tracker: Callable[[], Callable[[np.ndarray], np.ndarray]]) -> dict:
    """Each of ``SEQUENCES`` through a fresh tracker (``make_tracker()``), frame by frame on the same
    detections: {sequence and "OVERALL": {"MOTA", "IDF1", "ID_switches"}} (motmetrics, IoU 0.5)."""
    mm = load_motmetrics()
    accs = []
    for seq in SEQUENCES:
        gt, dets = load_sequence(seq)
        step = make_tracker()
        acc = mm.MOTAccumulator(auto_id=True)
        for f in range(1, max(max(gt), max(dets)) + 1):
            g_ids, g_boxes = gt.get(f, (np.zeros(0, int), np.zeros((0, 4))))
            d_boxes = dets.get(f, (None, np.zeros((0, 4))))[1]
            ids = step(d_boxes)
            keep = ids >= 0
            acc.update(g_ids, ids[keep], mm.distances.iou_matrix(to_tlwh(g_boxes), to_tlwh(d_boxes[keep]), max_iou=0.5))
        accs.append(acc)
    summary = mm.metrics.create().compute_many(accs, metrics=["mota", "idf1", "num_switches"], names=list(SEQUENCES),
                                               generate_overall=True)
    return {name: {"MOTA": round(float(r["mota"]), 4), "IDF1": round(float(r["idf1"]), 4),
                   "ID_switches": int(r["num_switches"])} for name, r in summary.iterrows()}


def frames_at_rate(source: str, rate: float | None, out: str) -> tuple[str, float, list[int]]:
    """``source`` (a video, or a MOTChallenge folder: ``img1/`` + ``seqinfo.ini``) as a video at
    ``rate`` fps (None: its own), each frame repeated for as long as it lasts, written to ``out``
    (MJPEG at top quality: every frame kept): (path, the source's rate, the source frame (0-based) of
    each frame written). A video at its own rate is used as it is."""
    import configparser
    import glob

    import cv2
    if os.path.isdir(source):
        ini = configparser.ConfigParser()
        ini.read(os.path.join(source, "seqinfo.ini"))
        fps = float(ini["Sequence"]["frameRate"]) if ini.has_section("Sequence") else 25.0
        files = iter(sorted(glob.glob(os.path.join(source, "img1", "*.jpg"))))

        def read():
            f = next(files, None)
            return cv2.imread(f) if f else None
    else:
        cap = cv2.VideoCapture(source)
        fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
        if rate is None:
            return source, fps, list(range(int(cap.get(cv2.CAP_PROP_FRAME_COUNT))))

        def read():
            ok, frame = cap.read()
            return frame if ok else None
    rate = rate or fps
    writer, which, k = None, [], 0
    while (frame := read()) is not None:
        if writer is None:
            writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*"MJPG"), rate, frame.shape[1::-1])
            writer.set(cv2.VIDEOWRITER_PROP_QUALITY, 100)
        # output frame i shows the source frame that is on screen at time i / rate
        while int(len(which) * fps / rate + 1e-9) == k:
            writer.write(frame)
            which.append(k)
        k += 1
    writer.release()
    return out, fps, which
