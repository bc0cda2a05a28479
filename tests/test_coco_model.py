"""The embedded COCO detector (quantised SSD-MobileNetV2) against the TFLite interpreter.

Fixtures in tests/fixtures/tflite_coco/ hold what the interpreter computed on every shared photo and
every 50th frame of vtest.avi (``python tools/make_coco_fixtures.py /tmp/ref/bin/python``): the raw
quantised 'Squeeze' (box encodings) and 'concat' (class logits) integers, and the post-processed
boxes, classes, scores and count of ``TFLite_Detection_PostProcess``. Inputs come from ../shared.
"""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import DEMO_CLIP, FIXTURES, ROOT, read_frame, shared_path

COCO = FIXTURES / "tflite_coco"
NAMES = sorted(p.name[:-4] for p in COCO.glob("*.npz"))
TFLITE = "models/ssd_mobilenet_v2_coco_quant_postprocess.tflite"


def _input(name: str) -> np.ndarray:
    import cv2
    if name.startswith("vtest.avi_"):
        return read_frame(shared_path("media/vtest.avi"), int(name.rsplit("_", 1)[1]))
    return cv2.imread(str(shared_path(f"media/{name}")), cv2.IMREAD_COLOR)


@pytest.fixture(scope="module", params=["onnxruntime", "eager", "torch-free"])
def coco(request):
    """The embedded model in each CPU runtime: ORT behind the torch loader, the torch model, and the
    torch-free bundle the ``lookout`` command starts with."""
    if request.param == "torch-free":
        from detector.runtime.onnx.detector import OnnxDetector, load_cached
        det = load_cached("ssd-mobilenetv2-coco", "cpu", score_threshold=0.0)
        assert isinstance(det, OnnxDetector)
        return det
    from detector import Detector
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu", mode=request.param, score_threshold=0.0)
    assert det.mode == request.param
    return det


def _raw(det, image):
    enc, logits = det._infer([image], None)
    return np.asarray(enc).astype(np.uint8)[0], np.asarray(logits).astype(np.uint8)[0]


def test_fixtures_cover_every_photo_and_every_50th_frame():
    assert len(NAMES) == 7 + 16, NAMES


@pytest.mark.slow
def test_raw_outputs_and_detections_equal_the_interpreter(coco):
    """Every fixture: 0 differing integers in the raw outputs; the op's detections identical."""
    differing = 0
    for name in NAMES:
        ref = np.load(COCO / f"{name}.npz")
        box_q, logits_q = _raw(coco, _input(name))
        differing += int((box_q != ref["Squeeze__q"][0]).sum()) + int((logits_q != ref["concat__q"][0]).sum())
        boxes, classes, scores = coco.postprocessor.select(box_q, logits_q, coco.iou_threshold)
        n = int(ref["count"])
        assert len(classes) == n, name
        assert np.abs(boxes - ref["boxes"]).max() <= 1e-4, name
        assert (classes == ref["classes"]).all(), name
        assert (scores == ref["scores"]).all(), name
    assert differing == 0


@pytest.mark.slow
def test_detect_returns_the_interpreters_detections_in_pixels(coco):
    """The public path (BGR frame in, Detections out) at threshold 0: the op's boxes in pixels, class
    ids in TF's 90-id numbering (person = 1), labels from COCO's names."""
    for name in ("vtest.avi_100", "pets.jpg", "kite_and_cold.jpg"):
        ref = np.load(COCO / f"{name}.npz")
        image = _input(name)
        dets = coco.detect(image)
        h, w = image.shape[:2]
        keep = ref["scores"] > 0
        want = np.stack([ref["boxes"][:, 1] * w, ref["boxes"][:, 0] * h, ref["boxes"][:, 3] * w,
                         ref["boxes"][:, 2] * h], 1)[keep]
        assert len(dets) == int(keep.sum())
        assert np.abs(dets.xyxy - want).max() <= 1e-4 * max(h, w)
        assert (dets.class_ids == ref["classes"][keep] + 1).all()
        assert (dets.scores == ref["scores"][keep]).all()
    # At a user threshold: the op's detections above it, exactly (weak candidates are dropped before
    # NMS there, which must not change what is above it).
    for name in NAMES:
        ref = np.load(COCO / f"{name}.npz")
        coco.score_threshold = 0.3
        try:
            dets = coco.detect(_input(name))
        finally:
            coco.score_threshold = 0.0
        keep = ref["scores"] > 0.3
        assert (dets.scores == ref["scores"][keep]).all() and (dets.class_ids == ref["classes"][keep] + 1).all(), name
    people = coco.detect(_input("vtest.avi_100"))
    labels = [l for l, s in zip(people.labels, people.scores) if s > 0.4]
    assert labels.count("person") == 7 and labels.count("car") == 2, labels  # as in the interpreter's fixture
    pets = coco.detect(_input("pets.jpg"))
    assert pets.labels[:2] == ("dog", "dog") and pets.scores[0] > 0.95


def test_embedded_model_is_the_shared_tflite_converted_and_rebuilds_its_torch_model_exactly(tmp_path):
    """assets/ssd_mobilenetv2_coco.onnx is ``python -m detector.convert`` of the shared file, byte for
    byte (a drift fails here), and the torch model built from its weights (``models.onnx_weights``:
    what --backend eager and --device cuda run) is the TFLite conversion's, tensor for tensor and
    requantisation constant for constant."""
    import torch

    from detector.convert.__main__ import main as convert
    from detector.convert.tflite_ssd import read_tflite_ssd
    from detector.models.registry import MODELS
    from detector.runtime.weights import quant_model
    from detector.util.files import sha256_file as sha256_of
    src = shared_path(TFLITE)
    assert sha256_of(src) == "7046f31a72ec0045a57b94199144c96cf5840c7dc106b808b64a1ed5559aa0cd"
    shipped = MODELS["ssd-mobilenetv2-coco"].asset
    out = tmp_path / shipped.name
    assert convert([str(src), str(out)]) == 0
    assert out.read_bytes() == shipped.read_bytes(), \
        "assets/ssd_mobilenetv2_coco.onnx is stale: python -m detector.convert ../shared/" + TFLITE + " assets/ssd_mobilenetv2_coco.onnx"

    rebuilt, labels, pre, post = quant_model("ssd-mobilenetv2-coco")
    conv = read_tflite_ssd(src)
    reference = conv.build()
    a, b = rebuilt.state_dict(), reference.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    constants = ("lo", "hi", "shift", "a_mult", "b_mult", "ratio", "zp")
    for (name, mine), (_, theirs) in zip(rebuilt.named_modules(), reference.named_modules()):
        for c in constants:
            assert getattr(mine, c, None) == getattr(theirs, c, None), (name, c)
    assert pre.offset == -conv.input_zero_point and pre.size == (conv.input_size, conv.input_size)
    assert np.array_equal(post.anchors, conv.anchors) and len(labels) == conv.num_classes


def test_default_model_starts_without_torch_and_finds_people_and_cars():
    code = ("import sys, numpy as np, cv2; from detector.runtime.onnx.detector import load_cached; "
            "d = load_cached('ssd-mobilenetv2-coco', 'cpu'); cap = cv2.VideoCapture(sys.argv[1]); "
            "ok, f = cap.read(); r = d.detect(f); "
            "print(type(d).__name__, 'torch' in sys.modules, sorted(set(r.labels)))")
    p = subprocess.run([sys.executable, "-c", code, str(DEMO_CLIP)], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    kind, torch_loaded, labels = p.stdout.split(" ", 2)
    assert kind == "OnnxDetector" and torch_loaded == "False"
    assert "'person'" in labels and "'car'" in labels


def lookout(*args, timeout=120):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_readme_demo_finds_people_and_cars_in_every_frame(tmp_path):
    """The README's main job: the default model on the demo clip, every frame written."""
    video, jsonl = tmp_path / "demo.mp4", tmp_path / "demo.jsonl"
    p = lookout("--source", str(DEMO_CLIP), "--output", str(video), "--detections", str(jsonl), "--no-progress")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in jsonl.read_text().splitlines()]
    assert len(lines) == 60
    labels = [d["label"] for line in lines for d in line["detections"]]
    assert labels.count("car") >= 60 and labels.count("person") >= 5 * 60  # the parked cars, the walkers
    import cv2
    cap = cv2.VideoCapture(str(video))
    assert int(cap.get(cv2.CAP_PROP_FRAME_COUNT)) == 60


def test_list_models_names_each_model_with_licence_and_offline_state():
    p = lookout("--list-models")
    assert p.returncode == 0, p.stderr
    out = p.stdout
    for name in ("ssd-mobilenetv2-coco (default)", "ssdlite-mobilenetv2-person", "ssdlite-mobilenetv2-coco"):
        assert name in out
    coco = out.split("ssdlite-mobilenetv2-person")[0]
    assert "90 COCO classes" in coco and "Apache-2.0" in coco and "offline now: yes" in coco


def test_classes_by_name_and_unknown_names_fail_fast(tmp_path):
    jsonl = tmp_path / "d.jsonl"
    p = lookout("--source", str(DEMO_CLIP), "--classes", "car,bus", "--detections", str(jsonl), "--max-frames", "5",
                "--no-progress")
    assert p.returncode == 0, p.stderr
    labels = {d["label"] for l in jsonl.read_text().splitlines() for d in json.loads(l)["detections"]}
    assert labels == {"car"}
    code = "import sys, main; rc = main.main(sys.argv[1:]); print(rc, 'torch' in sys.modules, 'onnxruntime' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code, "--source", str(DEMO_CLIP), "--classes", "car,persn,bus,dgo",
                        "--detections", str(tmp_path / "x.jsonl")], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.split() == ["2", "False", "False"], p.stdout  # refused before any runtime loads
    errors = [l for l in p.stderr.splitlines() if l.startswith("lookout: error")]
    assert len(errors) == 1 and "'persn', 'dgo'" in errors[0] and "--classes" in errors[0]
    assert not (tmp_path / "x.jsonl").exists()


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    data = shared_path(TFLITE).read_bytes()
    truncated = tmp_path / "truncated.tflite"
    truncated.write_bytes(data[: len(data) // 3])
    # The same model with its post-processing op renamed: a valid file without the op.
    renamed = tmp_path / "no_postprocess.tflite"
    renamed.write_bytes(data.replace(b"TFLite_Detection_PostProcess", b"Xyzzy_Detection_PostProcessX"))
    return {"truncated": truncated, "classifier": shared_path("models/mobilenet_v2_1.0_224_quant.tflite"),
            "no postprocess op": renamed}


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["truncated", "classifier", "no postprocess op"])
def test_bad_tflite_files_fail_in_one_line_and_write_nothing(tmp_path, kind):
    bad = _bad_files(tmp_path)[kind]
    out = tmp_path / "out"
    out.mkdir()
    p = lookout("--source", str(DEMO_CLIP), "--model", str(bad), "--detections", str(out / "d.jsonl"),
                "--output", str(out / "v.mp4"), "--no-progress")
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    errors = [l for l in p.stderr.splitlines() if l.startswith("lookout: error")]
    assert len(errors) == 1, p.stderr
    assert bad.name in errors[0]
    expect = {"truncated": "damaged or truncated", "classifier": "TFLite_Detection_PostProcess",
              "no postprocess op": "TFLite_Detection_PostProcess"}[kind]
    assert expect in errors[0], errors[0]
    assert list(out.iterdir()) == []
