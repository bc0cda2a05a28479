"""How well the tracker's appearance vectors tell a person from the people near them, on
MOTChallenge-layout sequences with identity ground truth (``SEQ/img1/*.jpg``, ``SEQ/gt/gt.txt``,
``SEQ/seqinfo.ini``).

usage: python tools/reid_auc.py SEQ [SEQ ...] [--dt 1.0] [--step N] [--gt gt.txt]

For each ground-truth box (person i at frame t; every ``--step``-th frame): its vector against the
same person's at t + ``--dt`` seconds (a positive pair) and against every other person's there whose
box centre is within two box heights of it (a hard negative: the neighbours a track could move onto).
Prints, per sequence, the AUC (the chance a positive pair is more alike than a hard negative) and
the cosine distances' medians, as one JSON line each. Boxes are the ground truth's, so this measures
the vectors alone, not the detector.
"""
from __future__ import annotations

import argparse
import configparser
import glob
import json
import os
import sys

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def pairs(seq: str, embed, dt: float, step: int, gt: str = "gt.txt") -> tuple[np.ndarray, np.ndarray]:
    """Cosine similarities of the positive pairs and of the hard negatives."""
    rows = np.loadtxt(os.path.join(seq, "gt", gt), delimiter=",", ndmin=2)
    info = configparser.ConfigParser()
    info.read(os.path.join(seq, "seqinfo.ini"))
    fps = float(info["Sequence"]["frameRate"])
    frames = sorted(glob.glob(os.path.join(seq, "img1", "*.jpg")))
    gap = max(1, int(round(dt * fps)))
    # MOT16/17 (9 columns): pedestrians are class 1 with conf 1; MOT15 (10): rows with conf 1 (0: ignore)
    people = (rows[:, 6] == 1) & ((rows[:, 7] == 1) if rows.shape[1] == 9 else True)
    cache: dict[int, tuple] = {}

    def boxes(f: int):
        if f not in cache:
            r = rows[(rows[:, 0] == f) & people]
            image = cv2.imread(frames[f - 1])
            h, w = image.shape[:2]
            xyxy = np.clip(np.stack([r[:, 2], r[:, 3], r[:, 2] + r[:, 4], r[:, 3] + r[:, 5]], 1), 0, [w, h, w, h])
            ok = (xyxy[:, 2] - xyxy[:, 0] > 4) & (xyxy[:, 3] - xyxy[:, 1] > 8)
            cache[f] = (r[ok, 1].astype(int), xyxy[ok], embed(image, xyxy[ok]))
        return cache[f]

    pos, neg = [], []
    for f in range(1, min(len(frames), int(rows[:, 0].max())) - gap + 1, step):
        for old in [k for k in cache if k < f]:
            del cache[old]
        ids_a, box_a, vec_a = boxes(f)
        ids_b, box_b, vec_b = boxes(f + gap)
        centres = (box_b[:, :2] + box_b[:, 2:]) / 2
        for k, pid in enumerate(ids_a):
            same = np.flatnonzero(ids_b == pid)
            if not len(same):
                continue
            sim = vec_b @ vec_a[k]
            pos.append(sim[same[0]])
            near = np.linalg.norm(centres - (box_a[k, :2] + box_a[k, 2:]) / 2, axis=1) < 2 * (box_a[k, 3] - box_a[k, 1])
            neg += sim[near & (ids_b != pid)].tolist()
    return np.array(pos), np.array(neg)


def auc(pos: np.ndarray, neg: np.ndarray) -> float:
    """P(a positive pair's similarity > a hard negative's), ties counted half (Mann-Whitney)."""
    values = np.concatenate([pos, neg])
    order = values.argsort(kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    for v in np.unique(values):  # ties share their mean rank
        tie = values == v
        if tie.sum() > 1:
            ranks[tie] = ranks[tie].mean()
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seqs", nargs="+", metavar="SEQ")
    ap.add_argument("--dt", type=float, default=1.0, help="seconds between the two boxes of a pair (default 1)")
    ap.add_argument("--gt", default="gt.txt", help="the ground-truth file's name in SEQ/gt/ (default gt.txt)")
    ap.add_argument("--step", type=int, default=0, help="every Nth frame as a first box (default: about 50 anchors' "
                                                         "frames a sequence)")
    a = ap.parse_args()
    for seq in a.seqs:
        if not os.path.isfile(os.path.join(seq, "gt", a.gt)) or not glob.glob(os.path.join(seq, "img1", "*.jpg")):
            print(f"reid_auc: {seq}: expected img1/*.jpg and gt/{a.gt} there", file=sys.stderr)
            sys.exit(2)
    from detector.runtime.onnx.appearance import Appearance
    embed = Appearance()
    for seq in a.seqs:
        step = a.step or max(1, len(glob.glob(os.path.join(seq, "img1", "*.jpg"))) // 50)
        pos, neg = pairs(seq, embed, a.dt, step, a.gt)
        if not len(pos) or not len(neg):
            print(f"reid_auc: {seq}: no pairs {a.dt:g} s apart (too short, or nobody near anybody); skipped",
                  file=sys.stderr)
            continue
        print(json.dumps({"sequence": os.path.basename(os.path.normpath(seq)), "auc": round(auc(pos, neg), 3),
                          "positives": len(pos), "hard_negatives": len(neg),
                          "distance_median_same": round(float(np.median(1 - pos)), 3),
                          "distance_median_neighbour": round(float(np.median(1 - neg)), 3)}))


if __name__ == "__main__":
    main()
