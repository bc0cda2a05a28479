"""Shared test helpers: real media from assets/ and ../shared (skipped with a reason when absent)."""
from __future__ import annotations

import os
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED = Path(os.environ.get("LOOKOUT_SHARED", ROOT.parent / "shared"))
DEMO_CLIP = ASSETS / "demo_vtest.mp4"
DEMO_FIRST_VTEST_FRAME = 100  # the demo clip is vtest.avi frames 100-159

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def shared_path(rel: str) -> Path:
    p = SHARED / rel
    if not p.exists():
        pytest.skip(f"needs ../shared/{rel} (development data, see ../shared/README.md); not present here")
    return p


def read_frame(path: Path, index: int) -> np.ndarray:
    cap = cv2.VideoCapture(str(path))
    try:
        cap.set(cv2.CAP_PROP_POS_FRAMES, index)
        ok, frame = cap.read()
        assert ok, f"cannot read frame {index} of {path}"
        return frame
    finally:
        cap.release()


def iou_matrix(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of every box in a (N, 4) with every box in b (M, 4), both xyxy."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    x1 = np.maximum(a[:, None, 0], b[None, :, 0]); y1 = np.maximum(a[:, None, 1], b[None, :, 1])
    x2 = np.minimum(a[:, None, 2], b[None, :, 2]); y2 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x2 - x1, 0, None) * np.clip(y2 - y1, 0, None)
    area = lambda z: (z[:, 2] - z[:, 0]) * (z[:, 3] - z[:, 1])
    return inter / (area(a)[:, None] + area(b)[None, :] - inter)


def tf_boxes_to_xyxy(boxes: np.ndarray, hw) -> np.ndarray:
    """TF's normalised [ymin, xmin, ymax, xmax] -> pixel [x1, y1, x2, y2]."""
    h, w = hw
    return np.stack([boxes[:, 1] * w, boxes[:, 0] * h, boxes[:, 3] * w, boxes[:, 2] * h], 1).astype(np.float32)


@pytest.fixture(scope="session")
def person_detector():
    from detector import Detector
    return Detector.load("ssdlite-mobilenetv2-person", device="cpu")
