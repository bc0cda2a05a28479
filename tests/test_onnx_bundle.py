"""The command line's torch-free start: the ONNX Runtime bundle (shipped or cached) detects the same."""
from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

import pytest

from conftest import FIXTURES, ROOT, iou_matrix, read_frame, shared_path, tf_boxes_to_xyxy

CHILD = """
import json, sys
import cv2
from detector.engine.run import RunConfig, load_models
models = load_models(RunConfig(device="cpu", model=sys.argv[2]))
d = models.detector.detect(cv2.imread(sys.argv[1]))
print(json.dumps({"type": type(models.detector).__name__, "torch": "torch" in sys.modules,
                  "mode": models.detector.mode, "xyxy": d.xyxy.tolist(), "scores": d.scores.tolist(),
                  "labels": list(d.labels)}))
"""


def _child(cache, model="ssdlite-mobilenetv2-person") -> dict:
    """Load models as the command line does, in a fresh process with only ``cache``, and detect on
    vtest.avi frame 100 (saved losslessly, so both processes see the same pixels)."""
    image = cache / "vtest_00100.png"
    if not image.exists():
        import cv2
        cv2.imwrite(str(image), read_frame(shared_path("media/vtest.avi"), 100))
    p = subprocess.run([sys.executable, "-c", CHILD, str(image), str(model)], capture_output=True, text=True,
                       cwd=ROOT, env={"PATH": "/usr/bin:/bin", "LOOKOUT_CACHE": str(cache), "HOME": str(cache)},
                       timeout=120)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.slow
def test_shipped_bundle_starts_without_torch_and_matches_a_fresh_export(tmp_path, monkeypatch):
    """The embedded model's file (assets/) is a fresh conversion of its frozen graph, byte for byte,
    runs with no torch in the process even on a first start (empty cache), and detects exactly what
    a fresh export of the torch model built from its own weights does."""
    from detector.convert.__main__ import main as convert
    from detector.models.bundle import read_bundle
    from detector.models.registry import MODELS
    from detector.runtime.onnx.detector import own_file
    from detector.runtime.weights import float_weights
    onnx_path = MODELS["ssdlite-mobilenetv2-person"].bundle
    assert onnx_path == MODELS["ssdlite-mobilenetv2-person"].asset  # one file: nothing ships beside it
    graph = "models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb"
    assert convert([str(shared_path(graph)), str(tmp_path / onnx_path.name)]) == 0
    assert (tmp_path / onnx_path.name).read_bytes() == onnx_path.read_bytes(), \
        f"assets/{onnx_path.name} is stale: python -m detector.convert ../shared/{graph} assets/{onnx_path.name}"
    found = read_bundle(onnx_path)
    assert found[1]["labels"] == ["background", "person"] and found[1]["licence"] == "MIT"
    cache = tmp_path / "cache"
    cache.mkdir()
    monkeypatch.setenv("LOOKOUT_CACHE", str(cache))
    assert own_file("ssdlite-mobilenetv2-person") == onnx_path

    got = _child(cache)
    assert got["type"] == "OnnxDetector" and got["mode"] == "onnxruntime"
    assert got["torch"] is False
    assert not list(cache.glob("onnx/*"))  # nothing had to be exported

    # a fresh export of the torch model built from the file's weights (a checkpoint, no bundle beside it)
    from detector import Detector
    copy = tmp_path / "person.pt"
    float_weights("ssdlite-mobilenetv2-person").save(copy)
    fresh = Detector.load(copy, device="cpu", mode="onnxruntime")
    frame = read_frame(shared_path("media/vtest.avi"), 100)
    ref = fresh.detect(frame)
    np.testing.assert_allclose(np.float32(got["xyxy"]).reshape(-1, 4), ref.xyxy, atol=1e-3)
    np.testing.assert_allclose(np.float32(got["scores"]), ref.scores, atol=1e-5)
    assert got["labels"] == ["person"] * len(ref)

    # and TF's own answer on that frame
    tf = np.load(FIXTURES / "tf_person" / "vtest.avi_00100.npz")
    keep = tf["scores"][0] > 0.3
    assert len(got["scores"]) == int(keep.sum()) >= 4
    iou = iou_matrix(np.float32(got["xyxy"]), tf_boxes_to_xyxy(tf["boxes"][0][keep], frame.shape[:2]))
    assert (iou.max(axis=1) >= 0.98).all()


@pytest.mark.slow
def test_cached_bundle_for_another_checkpoint_and_damaged_cache_fall_back(tmp_path, monkeypatch):
    """A checkpoint without a shipped bundle: the first load exports into the cache, the next start
    runs without torch and detects the same; a damaged cache entry sends it back to torch."""
    (tmp_path / "cache").mkdir()
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path / "cache"))
    from detector import Detector
    from detector.runtime.onnx.detector import load_cached
    from detector.runtime.weights import float_weights
    ckpt = tmp_path / "person.pt"
    float_weights("ssdlite-mobilenetv2-person").save(ckpt)  # the embedded weights as a checkpoint
    assert load_cached(ckpt, "cpu") is None  # nothing cached yet
    det = Detector.load(ckpt, device="cpu", mode="onnxruntime")  # exports, writes the bundle
    assert [p.suffix for p in (tmp_path / "cache" / "onnx").iterdir()] == [".onnx"]  # one file: graph + card
    assert load_cached(ckpt, "cpu") is not None
    assert load_cached(ckpt, "cpu", mode="jit") is None  # other modes need torch
    assert load_cached(ckpt, "cuda") is None

    got = _child(tmp_path / "cache", ckpt)
    assert got["type"] == "OnnxDetector" and got["torch"] is False
    ref = det.detect(read_frame(shared_path("media/vtest.avi"), 100))
    np.testing.assert_array_equal(np.float32(got["scores"]), ref.scores)

    (model,) = (tmp_path / "cache" / "onnx").glob("*.onnx")
    model.write_bytes(model.read_bytes()[:100])  # cut off
    assert load_cached(ckpt, "cpu") is None
    got = _child(tmp_path / "cache", ckpt)  # the command line still works: torch path, which rewrites it
    # and runs the rewritten file, as every later start will (one runtime class from the first run on)
    assert got["type"] == "OnnxDetector" and got["torch"] is True and len(got["scores"]) >= 4
    assert load_cached(ckpt, "cpu") is not None


def test_lossless_runs_get_workers_that_never_spin_and_live_ones_spin_only_within_a_call(tmp_path):
    """Spinning workers take the cores a lossless run's decoder and encoder need (104 vs 84 fps
    measured), while a live frame or an API call is 15-20 % faster when they spin between ops."""
    from detector.engine.run import RunConfig, load_models
    from detector.runtime.loader import load_detector

    def spinning(det) -> tuple[str, str]:
        o = det.session.get_session_options()
        spin = o.get_session_config_entry("session.intra_op.allow_spinning")
        return (spin, o.get_session_config_entry("session.force_spinning_stop") if spin == "1" else "")
    for model in ("ssd-mobilenetv2-coco", "ssdlite-mobilenetv2-person"):
        assert spinning(load_detector(model, "cpu")) == ("1", "1")
        lossless = load_models(RunConfig(source=str(ROOT / "assets" / "demo_vtest.mp4"), device="cpu", model=model))
        assert spinning(lossless.detector)[0] == "0"
        played = load_models(RunConfig(source=str(ROOT / "assets" / "demo_vtest.mp4"), live=True,
                                       play_realtime=True, device="cpu", model=model))
        camera = load_models(RunConfig(source="0", device="cpu", model=model))
        assert spinning(played.detector) == spinning(camera.detector) == ("1", "1")


def test_the_torch_side_runtimes_and_the_classifier_follow_the_same_rule():
    """--backend onnxruntime (ONNX Runtime behind the torch model) and a classifier with --classify
    are loaded the same way: workers that never spin in a lossless run, spinning within a call live."""
    from detector.engine.run import RunConfig, load_models

    def spinning(session) -> str:
        return session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    demo, classifier = str(ROOT / "assets" / "demo_vtest.mp4"), str(shared_path("models/mobilenet_v2_1.0_224_quant.tflite"))
    for model in ("ssd-mobilenetv2-coco", "ssdlite-mobilenetv2-person"):
        for live, want in ((False, "0"), (True, "1")):
            m = load_models(RunConfig(source=demo, live=live, play_realtime=live, device="cpu", model=model,
                                      backend="onnxruntime", classify="boxes", classifier=classifier))
            session = getattr(m.detector, "session", None) or m.detector.net.session
            assert spinning(session) == want, (model, live)
            clf = m.snapshot().classifier
            assert clf.mode == "onnxruntime" and spinning(clf.session) == want, (model, live)


@pytest.mark.slow
def test_a_lookout_onnx_file_runs_in_every_backend_from_its_own_weights(tmp_path):
    """A Lookout .onnx file given by path (a copy of each embedded model's) runs in torch too when
    a torch backend is asked for, its model built from the file's weights: the integer model's
    detections equal ONNX Runtime's exactly, the float one's within float rounding."""
    from detector import Detector
    frame = read_frame(shared_path("media/vtest.avi"), 100)
    for name, exact in (("ssd_mobilenetv2_coco.onnx", True), ("ssdlite_mobilenetv2_person.onnx", False)):
        copy = tmp_path / name
        copy.write_bytes((ROOT / "assets" / name).read_bytes())
        ort = Detector.load(str(copy), device="cpu")
        eager = Detector.load(str(copy), device="cpu", mode="eager")
        assert (ort.mode, eager.mode) == ("onnxruntime", "eager") and eager.labels == ort.labels
        a, b = ort.detect(frame), eager.detect(frame)
        assert len(a) >= 4 and a.labels == b.labels
        if exact:
            assert np.array_equal(a.scores, b.scores) and np.array_equal(a.xyxy, b.xyxy)
        else:
            np.testing.assert_allclose(b.scores, a.scores, atol=1e-5)
            np.testing.assert_allclose(b.xyxy, a.xyxy, atol=1e-2)
        assert eager.model_info["file"] == name
