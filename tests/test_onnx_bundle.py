"""The command line's torch-free start: the cached ONNX Runtime bundle gives the same detections."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import FIXTURES, ROOT, iou_matrix, read_frame, shared_path, tf_boxes_to_xyxy

pytest.importorskip("onnxruntime", reason="the [fast] extra (onnxruntime) is part of the test install")

CHILD = """
import json, sys
import cv2
from detector.run import RunConfig, load_models
models = load_models(RunConfig(device="cpu"))
frame = cv2.imread(sys.argv[1])
d = models.detector.detect(frame)
print(json.dumps({"type": type(models.detector).__name__, "torch": "torch" in sys.modules,
                  "mode": models.detector.mode, "xyxy": d.xyxy.tolist(), "scores": d.scores.tolist(),
                  "labels": list(d.labels)}))
"""


def _child(cache) -> dict:
    image = cache / "vtest_00100.png"  # lossless, so both processes see the same pixels
    if not image.exists():
        import cv2
        cv2.imwrite(str(image), read_frame(shared_path("media/vtest.avi"), 100))
    p = subprocess.run([sys.executable, "-c", CHILD, str(image)], capture_output=True, text=True, cwd=ROOT,
                       env={"PATH": "/usr/bin:/bin", "LOOKOUT_CACHE": str(cache), "HOME": str(cache)}, timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


def test_second_start_runs_without_torch_and_detects_the_same(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    from detector import Detector
    det = Detector.load(device="cpu", mode="onnxruntime")  # the first start: exports, writes the bundle
    assert sorted(p.suffix for p in (tmp_path / "onnx").iterdir()) == [".npz", ".onnx"]
    got = _child(tmp_path)
    frame = read_frame(shared_path("media/vtest.avi"), 100)
    ref = det.detect(frame)
    assert got["type"] == "OnnxDetector" and got["mode"] == "onnxruntime"
    assert got["torch"] is False
    np.testing.assert_array_equal(np.float32(got["xyxy"]).reshape(-1, 4), ref.xyxy)
    np.testing.assert_array_equal(np.float32(got["scores"]), ref.scores)
    assert got["labels"] == ["person"] * len(ref)

    # and TF's own answer on that frame
    tf = np.load(FIXTURES / "tf_person" / "vtest.avi_00100.npz")
    keep = tf["scores"][0] > 0.3
    assert len(got["scores"]) == int(keep.sum()) >= 4
    iou = iou_matrix(np.float32(got["xyxy"]), tf_boxes_to_xyxy(tf["boxes"][0][keep], frame.shape[:2]))
    assert (iou.max(axis=1) >= 0.98).all()


def test_damaged_or_missing_bundle_falls_back_to_torch(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    from detector.onnx_detector import load_cached
    assert load_cached("ssdlite-mobilenetv2-person", "cpu") is None  # nothing cached yet
    from detector import Detector
    Detector.load(device="cpu", mode="onnxruntime")
    assert load_cached("ssdlite-mobilenetv2-person", "cpu") is not None
    assert load_cached("ssdlite-mobilenetv2-person", "cpu", mode="jit") is None  # other modes need torch
    assert load_cached("ssdlite-mobilenetv2-person", "cuda") is None
    (meta,) = (tmp_path / "onnx").glob("*.npz")
    meta.write_bytes(meta.read_bytes()[:100])  # cut off
    assert load_cached("ssdlite-mobilenetv2-person", "cpu") is None
    got = _child(tmp_path)  # the command line still works: torch path, which rewrites the bundle
    assert got["type"] == "Detector" and len(got["scores"]) >= 4
    assert load_cached("ssdlite-mobilenetv2-person", "cpu") is not None
