"""Any ONNX detector a user brings: each layout built here as an ONNX graph whose outputs are known,
run through ``load_model`` on a 768x576 frame (another aspect than the 640x640 or 320x320 input, so
letterbox and stretch are undone), and compared with a decoding written here from the layout's
definition, not with Lookout's own code."""
from __future__ import annotations

import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DEMO_CLIP, ROOT, read_frame
from onnx_builders import constant_detector

COCO3 = "{0: 'person', 1: 'car', 2: 'dog'}"  # how common exporters write names: a Python dict literal


@pytest.fixture(scope="module")
def frame():
    f = read_frame(DEMO_CLIP, 0)
    assert f.shape == (576, 768, 3)
    return f


def _load(path, **kw):
    from detector.runtime.loader import load_model
    return load_model(path, "cpu", **kw)


def _iou(a, b):
    lo, hi = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = np.prod(np.clip(hi - lo, 0, None))
    return inter / (np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2]) - inter)


def _letterbox_to_frame(xyxy_in, frame_hw, input_hw, centred=True):
    """The letterbox of the layouts' definition, undone: scale min(h/H, w/W), size rounded, placed
    centred (or in the corner), each axis by its own resized length."""
    (H, W), (h, w) = frame_hw, input_hw
    r = min(h / H, w / W)
    nw, nh = round(W * r), round(H * r)
    left, top = ((w - nw) // 2, (h - nh) // 2) if centred else (0, 0)
    b = np.asarray(xyxy_in, np.float64)
    return np.stack([(b[:, 0] - left) * W / nw, (b[:, 1] - top) * H / nh,
                     (b[:, 2] - left) * W / nw, (b[:, 3] - top) * H / nh], axis=1)


def test_centre_size_channels_first_letterboxed_with_exporter_names(tmp_path, frame):
    """(1, 4 + C, N), cx cy w h in the 640x640 input's pixels, names and imgsz in the metadata as
    exporters write them: letterboxed (768x576 -> 640x480 at y 80), per-class NMS, threshold."""
    c, n = 3, 6
    p = np.zeros((1, 4 + c, n), np.float32)
    rows = [  # cx, cy, w, h, class, score
        (320, 320, 100, 200, 1, 0.9),
        (325, 322, 100, 200, 1, 0.8),   # IoU 0.9 with the first, same class: suppressed
        (325, 322, 100, 200, 2, 0.7),   # same place, another class: kept
        (100, 150, 40, 60, 0, 0.2),     # below the 0.3 threshold
        (500, 500, 60, 60, 0, 0.5),
        (40, 100, 30, 30, 0, 0.45),     # in the top pad: kept, maps above the frame
    ]
    for i, (cx, cy, w, h, k, s) in enumerate(rows):
        p[0, :4, i] = cx, cy, w, h
        p[0, 4 + k, i] = s
    model = constant_detector(tmp_path / "cs.onnx", [1, 3, 640, 640], {"output0": p},
                              metadata={"names": COCO3, "imgsz": "[640, 640]", "stride": "32"})
    det = _load(model)
    assert type(det).__name__ == "ForeignOnnxDetector" and det.labels == ("person", "car", "dog")
    got = det.detect(frame)
    keep = [0, 2, 4, 5]
    want_in = np.array([[cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2] for cx, cy, w, h, _, _ in
                        (rows[i] for i in keep)])
    want = _letterbox_to_frame(want_in, (576, 768), (640, 640))
    np.testing.assert_allclose(got.xyxy, want, rtol=0, atol=1e-3)
    np.testing.assert_array_equal(got.scores, np.float32([rows[i][5] for i in keep]))
    assert got.class_ids.tolist() == [rows[i][4] for i in keep]
    assert got.labels == ("car", "dog", "person", "person")
    assert got.xyxy[0].tolist() == pytest.approx([324.0, 168.0, 444.0, 408.0])  # (270 / (640/768), (220 - 80) * 576/480)


def test_centre_size_rows_with_labels_file_and_the_letterbox_input(tmp_path, frame):
    """(1, N, 4 + C) told apart by --labels' class count; the network's input is the frame
    letterboxed as defined (cv2 INTER_LINEAR, pad 114, RGB, / 255, NCHW)."""
    p = np.zeros((1, 8400, 4 + 2), np.float32)
    p[0, 7, :] = [300, 300, 80, 80, 0.1, 0.6]
    model = constant_detector(tmp_path / "rows.onnx", [1, 3, 640, 640], {"out": p})
    labels = tmp_path / "labels.txt"
    labels.write_text("helmet\nvest\n")
    det = _load(model, labels=labels)
    got = det.detect(frame)
    assert got.labels == ("vest",) and got.scores.tolist() == [np.float32(0.6)]
    np.testing.assert_allclose(got.xyxy, _letterbox_to_frame([[260, 260, 340, 340]], (576, 768), (640, 640)), atol=1e-3)

    x, _ = det.network_input(frame)
    want = np.full((640, 640, 3), 114, np.uint8)
    want[80:560] = cv2.resize(frame, (640, 480), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x[0], (want[..., ::-1].astype(np.float32) / 255).transpose(2, 0, 1))


def test_yolox_grid_letterboxed_into_the_corner(tmp_path, frame):
    """YOLOX's raw (1, N, 5 + C) grid over strides 8/16/32 of a 320x320 input: centre = (offset +
    cell) * stride, size = exp * stride, score = objectness x class; BGR 0-255 in the corner."""
    c = 2
    n = 40 * 40 + 20 * 20 + 10 * 10
    t = np.zeros((1, n, 5 + c), np.float32)
    # row 0 of stride 16 is cell (0, 0) of the 20x20 grid; cell (x=3, y=5) is row 1600 + 5 * 20 + 3
    r16 = 1600 + 5 * 20 + 3
    t[0, r16] = [0.5, 0.25, np.log(4.0), np.log(2.0), 0.9, 0.1, 0.8]
    r8 = 10 * 40 + 12
    t[0, r8] = [0.0, 0.0, 0.0, 0.0, 0.5, 0.9, 0.2]  # 0.45
    t[0, 30] = [0.0, 0.0, 0.0, 0.0, 0.5, 0.4, 0.2]  # 0.2: below the threshold
    model = constant_detector(tmp_path / "yolox.onnx", [1, 3, 320, 320], {"output": t})
    labels = tmp_path / "labels.txt"
    labels.write_text("cat\ndog\n")
    det = _load(model, labels=labels)
    assert det.card["decoder"]["kind"] == "yolox" and det.card["input"]["place"] == "corner"
    got = det.detect(frame)
    cx, cy, w, h = (3 + 0.5) * 16, (5 + 0.25) * 16, 4.0 * 16, 2.0 * 16
    a = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
    b = [12 * 8 - 4, 10 * 8 - 4, 12 * 8 + 4, 10 * 8 + 4]
    np.testing.assert_allclose(got.xyxy, _letterbox_to_frame([a, b], (576, 768), (320, 320), centred=False), atol=1e-3)
    np.testing.assert_allclose(got.scores, [0.9 * 0.8, 0.5 * 0.9], rtol=1e-6)
    assert got.labels == ("dog", "cat")
    x, _ = det.network_input(frame)
    want = np.full((320, 320, 3), 114, np.uint8)
    want[:240] = cv2.resize(frame, (320, 240), interpolation=cv2.INTER_LINEAR)
    np.testing.assert_array_equal(x[0], want.astype(np.float32).transpose(2, 0, 1))


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_detr_style_logits_and_normalised_boxes_stretched(tmp_path, frame, activation):
    """DETR-style: (1, Q, K) logits + (1, Q, 4) normalised cx cy w h, stretched: x * 768, y * 576.
    Softmax models have K = C + 1 (the last is "no object"), read from the names' count."""
    q, c = 5, 3
    k = c + (activation == "softmax")
    logits = np.full((1, q, k), -6.0, np.float32)
    logits[0, 0, 1] = 3.0
    logits[0, 2, 2] = 1.0
    if activation == "softmax":
        logits[0, 1, c] = 5.0  # a "no object" query
        logits[0, 3, c] = 5.0
        logits[0, 4, c] = 5.0
    boxes = np.array([[[0.5, 0.5, 0.2, 0.4], [0.1, 0.1, 0.1, 0.1], [0.25, 0.75, 0.1, 0.2],
                       [0.9, 0.9, 0.1, 0.1], [0.3, 0.3, 0.1, 0.1]]], np.float32)
    model = constant_detector(tmp_path / "detr.onnx", [1, 3, 640, 640], {"pred_logits": logits, "pred_boxes": boxes},
                              metadata={"names": '["person", "car", "dog"]'})
    det = _load(model)
    assert det.card["decoder"] == {"kind": "detr", "activation": activation}
    got = det.detect(frame)
    if activation == "sigmoid":
        probs = 1 / (1 + np.exp(-logits[0].astype(np.float64)))
    else:
        e = np.exp(logits[0].astype(np.float64))
        probs = (e / e.sum(axis=1, keepdims=True))[:, :c]
    best, cls = probs.max(axis=1), probs.argmax(axis=1)
    keep = [i for i in np.argsort(-best, kind="stable") if best[i] >= 0.3]
    assert keep == [0, 2]
    b = boxes[0][keep].astype(np.float64)
    want = np.stack([(b[:, 0] - b[:, 2] / 2) * 768, (b[:, 1] - b[:, 3] / 2) * 576,
                     (b[:, 0] + b[:, 2] / 2) * 768, (b[:, 1] + b[:, 3] / 2) * 576], axis=1)
    np.testing.assert_allclose(got.xyxy, want, atol=1e-3)
    np.testing.assert_allclose(got.scores, best[keep], rtol=1e-5)
    assert got.class_ids.tolist() == cls[keep].tolist() and got.labels == ("car", "dog")
    x, _ = det.network_input(frame)
    np.testing.assert_array_equal(x[0], (cv2.resize(frame, (640, 640), interpolation=cv2.INTER_LINEAR)[..., ::-1]
                                         .astype(np.float32) / 255).transpose(2, 0, 1))


def test_detr_labels_boxes_scores_with_the_original_size_input(tmp_path, frame):
    """RT-DETR's deploy export: images + orig_target_sizes in, labels / boxes (frame pixels) / scores out."""
    labels = np.array([[2, 0, 1]], np.int64)
    boxes = np.array([[[10, 20, 110, 220], [300, 100, 400, 500], [0, 0, 5, 5]]], np.float32)
    scores = np.array([[0.8, 0.95, 0.1]], np.float32)
    model = constant_detector(tmp_path / "rtdetr.onnx", [1, 3, 640, 640],
                              {"labels": labels, "boxes": boxes, "scores": scores},
                              size_input="orig_target_sizes", metadata={"names": COCO3})
    det = _load(model)
    assert det.card["decoder"]["kind"] == "detr_postprocessed" and det.layout.size_input == "orig_target_sizes"
    got = det.detect(frame)
    np.testing.assert_array_equal(got.xyxy, boxes[0][[1, 0]])
    assert got.scores.tolist() == [np.float32(0.95), np.float32(0.8)] and got.labels == ("person", "dog")


def test_ssd_exports_post_processed_tf_style_and_detection_output(tmp_path, frame):
    """A TF SSD export (uint8 NHWC input; boxes ymin xmin ymax xmax normalised, classes, scores,
    count) and a [1, 1, N, 7] DetectionOutput (image id, class, score, x1 y1 x2 y2 normalised)."""
    boxes = np.array([[[0.1, 0.2, 0.5, 0.4], [0.5, 0.5, 0.9, 0.9], [0.0, 0.0, 0.1, 0.1]]], np.float32)
    model = constant_detector(tmp_path / "tf_ssd.onnx", [1, 300, 300, 3], {
        "detection_boxes": boxes, "detection_classes": np.array([[0.0, 1.0, 0.0]], np.float32),
        "detection_scores": np.array([[0.9, 0.6, 0.55]], np.float32),
        "num_detections": np.array([2.0], np.float32)}, image_dtype=np.uint8, image_name="input_tensor",
        metadata={"names": '["person", "car"]'})
    det = _load(model)
    assert det.card["input"]["layout"] == "NHWC" and det.card["input"]["dtype"] == "uint8"
    got = det.detect(frame)  # the third box is beyond num_detections
    np.testing.assert_allclose(got.xyxy, [[0.2 * 768, 0.1 * 576, 0.4 * 768, 0.5 * 576],
                                          [0.5 * 768, 0.5 * 576, 0.9 * 768, 0.9 * 576]], atol=1e-3)
    assert got.labels == ("person", "car")
    x, _ = det.network_input(frame)
    assert x.dtype == np.uint8 and x.shape == (1, 300, 300, 3)
    np.testing.assert_array_equal(x[0], cv2.resize(frame, (300, 300), interpolation=cv2.INTER_LINEAR)[..., ::-1])

    rows = np.array([[[[0, 1, 0.7, 0.25, 0.5, 0.5, 1.0], [0, 2, 0.2, 0, 0, 1, 1], [-1, 0, 0, 0, 0, 0, 0]]]], np.float32)
    model = constant_detector(tmp_path / "do.onnx", [1, 3, 300, 300], {"detection_out": rows},
                              metadata={"names": '["background", "person", "car"]'})
    got = _load(model).detect(frame)
    np.testing.assert_allclose(got.xyxy, [[0.25 * 768, 0.5 * 576, 0.5 * 768, 576]], atol=1e-3)
    assert got.labels == ("person",) and got.scores.tolist() == [np.float32(0.7)]


def test_a_card_beside_the_file_says_what_the_graph_cannot(tmp_path, frame):
    """my.onnx.toml: a dynamic input's size, labels, stretch instead of letterbox, and which output is which."""
    p = np.zeros((1, 6, 4), np.float32)
    p[0, :, 0] = [320, 320, 64, 64, 0.0, 0.9]
    model = constant_detector(tmp_path / "my.onnx", [1, 3, None, None], {"preds": p})
    (tmp_path / "my.onnx.toml").write_text('labels = ["forklift", "pallet"]\nlicence = "MIT"\n'
                                           '[input]\nsize = [640, 640]\nresize = "stretch"\n'
                                           '[decoder]\nkind = "centre_size"\nchannels_first = true\n')
    det = _load(model)
    assert det.layout.sources["decoder"] == "my.onnx.toml" and det.labels == ("forklift", "pallet")
    got = det.detect(frame)
    np.testing.assert_allclose(got.xyxy, [[288 * 1.2, 288 * 0.9, 352 * 1.2, 352 * 0.9]], atol=1e-3)
    assert got.labels == ("pallet",)


def test_the_engine_runs_a_foreign_detector_on_every_frame(tmp_path):
    """Downstream is unchanged: the main job on the demo clip with a foreign model writes every frame."""
    p = np.zeros((1, 4 + 1, 3), np.float32)
    p[0, :, 0] = [320, 320, 100, 100, 0.9]
    model = constant_detector(tmp_path / "person.onnx", [1, 3, 640, 640], {"output0": p},
                              metadata={"names": "{0: 'person'}"})
    out = tmp_path / "d.jsonl"
    proc = subprocess.run([sys.executable, str(ROOT / "main.py"), "--source", str(DEMO_CLIP), "--headless",
                           "--model", str(model), "--detections", str(out), "--max-frames", "5"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert proc.returncode == 0, proc.stderr
    import json
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(lines) == 5
    for rec in lines:
        assert [d["label"] for d in rec["detections"]] == ["person"]
        assert rec["detections"][0]["xyxy"] == pytest.approx([324.0, 228.0, 444.0, 348.0], abs=0.01)  # (220 - 80) * 1.2 = 228


def _lookout(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=300)


def _refused(proc, *words):
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("lookout: error: "), proc.stderr
    for w in words:
        assert w in lines[0], lines[0]


def _bad_files(tmp_path):
    """(what is wrong, model file, extra args, words the one line must say) for each refusal."""
    p = np.zeros((1, 7, 8400), np.float32)
    good = constant_detector(tmp_path / "good.onnx", [1, 3, 640, 640], {"output0": p})
    typo = constant_detector(tmp_path / "typo.onnx", [1, 3, 640, 640], {"output0": p})
    (tmp_path / "typo.onnx.toml").write_text('[input]\nsize = [640, 640]\nresise = "letterbox"\n')
    three = tmp_path / "three.txt"
    three.write_text("a\nb\n")
    odd = constant_detector(tmp_path / "odd.onnx", [1, 3, 640, 640], {"a": np.zeros((1, 5), np.float32),
                                                                      "b": np.zeros((2, 2, 2, 2, 2), np.float32)})
    not_onnx = tmp_path / "video.onnx"
    not_onnx.write_bytes(DEMO_CLIP.read_bytes()[:20000])
    return [("card key", typo, [], ["typo.onnx.toml", "'resise'", "input's keys are"]),
            ("labels", good, ["--labels", str(three)], ["2 labels", "3 classes"]),
            ("missing labels file", good, ["--labels", str(tmp_path / "none.txt")], ["--labels"]),
            ("outputs", odd, [], ["no decoder accepts", "a[1, 5]", "odd.onnx.toml", "decoder] kind"]),
            ("not onnx", not_onnx, [], ["video.onnx is not an ONNX model file"])]


def test_files_lookout_cannot_run_are_refused_in_one_line_before_any_frame(tmp_path):
    """A card with a wrong key, a labels list that doesn't fit, a missing labels file, outputs no
    decoder accepts, a file that is not ONNX: exit 2, one line, and no output file begun."""
    for what, model, extra, words in _bad_files(tmp_path):
        out = tmp_path / f"{what}.jsonl"
        _refused(_lookout("--source", str(DEMO_CLIP), "--headless", "--model", str(model), "--detections", str(out),
                          *extra), *words)
        assert not out.exists(), what
        if what != "missing labels file":
            _refused(_lookout("models", "inspect", str(model), *extra), *words)


def test_inspect_says_what_it_understood_and_how_a_frame_maps(tmp_path):
    p = np.zeros((1, 7, 8400), np.float32)
    model = constant_detector(tmp_path / "m.onnx", [1, 3, 640, 640], {"output0": p},
                              metadata={"names": COCO3, "imgsz": "[640, 640]"})
    proc = _lookout("models", "inspect", str(model), "--frame", "1920x1080")
    assert proc.returncode == 0, proc.stderr
    text = proc.stdout
    for words in ("decoder: centre_size, channels_first True (from the outputs' shapes and names)",
                  "labels: 3: person, car, dog (from the file's names metadata)",
                  "preprocessing: letterbox (centre, pad 114)", "NCHW, size 640x640",
                  "a 1920x1080 frame: resized to 640x360 at x 0, y 140 of the 640x640 input",
                  "y = (y_input - 140) * 3"):
        assert words in text, text
    proc = _lookout("models", "inspect", str(ROOT / "assets" / "ssdlite_mobilenetv2_person.onnx"))
    assert proc.returncode == 0, proc.stderr
    assert "Lookout's own detector file" in proc.stdout and "labels: 2: background, person" in proc.stdout
    assert "decoder: ssd_anchors: 1917 anchors" in proc.stdout and "tf_bilinear" in proc.stdout
