"""A state classifier trained on a real clip, shared by the tests that need one (a session fixture,
registered in conftest.py, so it trains once a run): "empty" / "occupied" for a patch of road in
vtest.avi that people walk across.

In vtest frames 300-449 (``ROAD_CLIP``) someone enters the patch, leaves and another enters, each
for a second or more (found by scanning regions of the detector's JSONL of the whole of vtest). The
model trains on crops of the other frames (every 4th, 2 s kept away from the clip), labelled by the
embedded detector's person boxes; the clip, never trained on, is written as MJPG, as a camera's
recording.
"""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import ROOT, shared_path

ROAD = (448, 160, 544, 288)  # x1, y1, x2, y2 pixels of the 768x576 frame
ROAD_CLIP = (300, 450)  # vtest frames [first, end)
WEAK = 0.2  # a person box at this score touching the region: someone may be there, so not "empty"


def overlap(box, region) -> float:
    """Fraction of ``box``'s area inside ``region`` (both xyxy pixels)."""
    ix = max(0.0, min(box[2], region[2]) - max(box[0], region[0]))
    iy = max(0.0, min(box[3], region[3]) - max(box[1], region[1]))
    return ix * iy / max((box[2] - box[0]) * (box[3] - box[1]), 1e-6)


def occupancy(boxes, scores, region) -> str | None:
    """What the detector's person boxes (xyxy pixels) and scores say of ``region``: "occupied" when a
    box of score 0.5 or more is over half inside it, "empty" when no box of score ``WEAK`` or more
    touches it, None in between (someone half in, or a box too weak to trust either way)."""
    if any(s >= 0.5 and overlap(b, region) > 0.5 for b, s in zip(boxes, scores)):
        return "occupied"
    if all(s < WEAK or overlap(b, region) == 0 for b, s in zip(boxes, scores)):
        return "empty"
    return None


def vtest_frames():
    """(index, frame) of every frame of vtest.avi, in order (skips the test when it is absent)."""
    cap = cv2.VideoCapture(str(shared_path("media/vtest.avi")))
    k = 0
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        yield k, frame
        k += 1
    cap.release()


def train_model(data, out, *options) -> tuple:
    """``lookout train DATA --out OUT --base coco`` (the COCO body: offline) with ``options``:
    (model path, its log)."""
    p = subprocess.run([sys.executable, str(ROOT / "main.py"), "train", str(data), "--out", str(out), "--base",
                        "coco", "--no-progress", *map(str, options)], capture_output=True, text=True, timeout=900,
                       cwd=ROOT)
    assert p.returncode == 0, p.stderr
    return out, p.stderr


@pytest.fixture(scope="session")
def road_sets(tmp_path_factory):
    """(folder, counts): folder/road/{empty,occupied}/*.jpg crops of ``ROAD`` and folder/road_clip.avi."""
    from detector.runtime.loader import load_detector
    det = load_detector()
    det.score_threshold = WEAK  # the weak boxes keep "empty" crops empty
    root = tmp_path_factory.mktemp("road_sets")
    clip = cv2.VideoWriter(str(root / "road_clip.avi"), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    counts = {"empty": 0, "occupied": 0}
    for k, frame in vtest_frames():
        if ROAD_CLIP[0] <= k < ROAD_CLIP[1]:
            clip.write(frame)
        if k % 4 or ROAD_CLIP[0] - 20 <= k < ROAD_CLIP[1] + 20:
            continue
        d = det.detect(frame)
        person = np.array([lab == "person" for lab in d.labels], bool)
        state = occupancy(d.xyxy[person], d.scores[person], ROAD)
        if state:  # None: half in, half out, no clear answer to learn from
            out = root / "road" / state / f"{k:04d}.jpg"
            out.parent.mkdir(parents=True, exist_ok=True)
            assert cv2.imwrite(str(out), frame[ROAD[1]:ROAD[3], ROAD[0]:ROAD[2]])
            counts[state] += 1
    clip.release()
    assert min(counts.values()) >= 20, counts
    return root, counts


@pytest.fixture(scope="session")
def road_model(road_sets, tmp_path_factory):
    """(model path, lookout train's log): the default settings on the COCO body."""
    root, _ = road_sets
    return train_model(root / "road", tmp_path_factory.mktemp("road_model") / "road.onnx")
