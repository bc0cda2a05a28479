"""The self-describing model file: the card in an ONNX file's metadata, read without the onnx
package, exactly what the embedded models need, and the same card for classifiers."""
from __future__ import annotations

import re

import numpy as np
import pytest

from conftest import ASSETS, DEMO_CLIP, shared_path


def test_the_card_reader_agrees_with_onnx_and_refuses_what_is_not_onnx(tmp_path):
    import onnx

    from detector.models.card import CARD_KEY, onnx_metadata, read_onnx
    for name in ("ssd_mobilenetv2_coco.onnx", "ssdlite_mobilenetv2_person.onnx"):
        data = (ASSETS / name).read_bytes()
        assert onnx_metadata(data) == {p.key: p.value for p in onnx.load_from_string(data).metadata_props}
        assert CARD_KEY in onnx_metadata(data)
    import io
    import zipfile
    checkpoint = io.BytesIO()  # a torch checkpoint's container: a zip with a pickle inside
    with zipfile.ZipFile(checkpoint, "w") as z:
        z.writestr("archive/data.pkl", b"\x80\x02}q\x00.")
    for bad in (DEMO_CLIP.read_bytes()[:50000], checkpoint.getvalue(), b"name: 'x'\n", b""):
        (tmp_path / "bad.onnx").write_bytes(bad)
        with pytest.raises(ValueError, match="bad.onnx is not an ONNX model file"):
            read_onnx(tmp_path / "bad.onnx")


def test_a_card_with_a_wrong_key_or_value_is_refused_in_one_line():
    from detector.models.card import CardError, check_card
    good = {"format": 1, "name": "m", "task": "detect", "labels": ["a"], "input": {"size": [320, 320]},
            "decoder": {"kind": "centre_size"}}
    filled = check_card(good)
    assert filled["input"]["resize"] == "stretch" and filled["input"]["pad"] == 114
    for change, words in (({"lables": ["a"]}, "unknown key 'lables'"),
                          ({"input": {"size": [320, 320], "resise": "letterbox"}}, "unknown input key 'resise'"),
                          ({"input": {"size": [320]}}, "input size must be [height, width]"),
                          ({"input": {"layout": "CHW"}}, "input layout must be one of NCHW, NHWC"),
                          ({"input": {"std": [0]}}, "std must not be 0"),
                          ({"labels": "a,b"}, "labels must be a list of names"),
                          ({"task": "segment"}, "task must be"),
                          ({"format": 2}, "format 2")):
        with pytest.raises(CardError, match=re.escape(words)) as e:
            check_card({**good, **change})
        assert "\n" not in str(e.value)


def test_with_card_round_trips_and_replaces(tmp_path):
    from detector.models.card import read_card, with_card
    graph = (ASSETS / "ssdlite_mobilenetv2_person.onnx").read_bytes()
    card = {"format": 1, "name": "x", "task": "classify", "labels": ["a", "b"], "decoder": {"kind": "softmax"},
            "input": {"size": [224, 224], "mean": [127.5], "std": [127.5]}}
    again = with_card(with_card(graph, {**card, "name": "first"}), card)
    got = read_card(again)
    assert got["name"] == "x" and got["labels"] == ["a", "b"] and got["input"]["mean"] == [127.5]
    assert again.count(b"lookout.card") == 1


def test_the_embedded_models_cards_hold_their_sources_exact_settings():
    """The card holds what a fresh conversion of each model's source computes: anchors bit for bit,
    the preprocessing's scale and offset exactly, labels, the TFLite op's grids."""
    pytest.importorskip("torch")
    from detector.convert.tf_detection import weights_from_graph
    from detector.convert.tflite_ssd import read_tflite_ssd
    from detector.models.bundle import postprocessor_of, preprocessing_of, read_bundle
    from detector.models.labels import labels_for_classes
    from detector.models.quant_weights import ssd_postprocessor, ssd_preprocessing
    from detector.models.registry import MODELS
    from detector.models.ssdlite import graph_postprocessor

    coco = MODELS["ssd-mobilenetv2-coco"]
    _, card = read_bundle(coco.bundle)
    conv = read_tflite_ssd(shared_path("models/ssd_mobilenet_v2_coco_quant_postprocess.tflite"))
    labels = labels_for_classes(conv.num_classes)
    want, got = ssd_postprocessor(conv), postprocessor_of(card)
    assert got.anchors.dtype == np.float32 and np.array_equal(got.anchors, np.asarray(want.anchors, np.float32))
    assert (got.scales, got.box_grid, got.logit_grid, got.score_grid, got.score_threshold, got.max_detections) == \
        (tuple(want.scales), tuple(want.box_grid), tuple(want.logit_grid), tuple(want.score_grid),
         want.score_threshold, want.max_detections)
    assert preprocessing_of(card) == ssd_preprocessing(conv) and tuple(card["labels"]) == tuple(labels)

    person = MODELS["ssdlite-mobilenetv2-person"]
    _, card = read_bundle(person.bundle)
    weights = weights_from_graph(shared_path("models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb"))
    want = graph_postprocessor(weights.build(), weights.preprocessing.size)
    got = postprocessor_of(card)
    assert np.array_equal(got.anchors, want.anchors) and got.box_coder.scale_factors == want.box_coder.scale_factors
    assert preprocessing_of(card) == weights.preprocessing and tuple(card["labels"]) == tuple(weights.labels)


def test_a_classifier_file_with_its_card_runs_without_torch_as_the_converted_one(tmp_path, monkeypatch):
    """The quantised classifier's cached export is one .onnx with a classify card; given as
    --classifier FILE.onnx (as ``lookout train`` writes them) it runs in ONNX Runtime and gives
    the torch classifier's probabilities."""
    import subprocess
    import sys

    import cv2

    from conftest import ROOT
    tflite = shared_path("models/mobilenet_v2_1.0_224_quant.tflite")
    image = shared_path("media/cat_720p.jpg")
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path / "cache"))
    from detector.runtime.loader import load_classifier
    ref = load_classifier(tflite, "cpu")
    (kept,) = (tmp_path / "cache" / "onnx").glob("*.classifier.onnx")
    assert not list((tmp_path / "cache" / "onnx").glob("*.npz"))  # one file
    mine = tmp_path / "mine.onnx"
    mine.write_bytes(kept.read_bytes())
    code = ("import sys, cv2; from detector.runtime.loader import load_classifier; "
            "c = load_classifier(sys.argv[1], 'cpu'); r = c.classify(cv2.imread(sys.argv[2])); "
            "print(type(c).__name__, 'torch' in sys.modules, repr(r[:5]))")
    p = subprocess.run([sys.executable, "-c", code, str(mine), str(image)], capture_output=True, text=True, cwd=ROOT,
                       timeout=120)
    assert p.returncode == 0, p.stderr
    kind, torch_loaded, top = p.stdout.strip().split(" ", 2)
    assert (kind, torch_loaded) == ("OnnxClassifier", "False")
    assert top == repr(ref.classify(cv2.imread(str(image)))[:5])
    assert eval(top)[0][0] == "Egyptian cat"  # noqa: S307 our own repr of (str, float) pairs


def test_the_run_summary_names_the_model_file_and_its_source_and_the_lines_stay_as_they_were(tmp_path):
    """--stats-json says which model ran (its file and the card's source, which names the file it
    was converted from and that file's sha256); the detections lines carry no model key."""
    import json
    import subprocess
    import sys

    from conftest import ROOT
    for model, file, converted_from in (
            ("ssd-mobilenetv2-coco", "ssd_mobilenetv2_coco.onnx", "ssd_mobilenet_v2_coco_quant_postprocess.tflite"),
            ("ssdlite-mobilenetv2-person", "ssdlite_mobilenetv2_person.onnx",
             "ssdlite_mobilenet_v2_person_frozen_inference_graph.pb")):
        jsonl, stats = tmp_path / f"{model}.jsonl", tmp_path / f"{model}.json"
        p = subprocess.run([sys.executable, str(ROOT / "main.py"), "--source", str(DEMO_CLIP), "--headless", "--model",
                            model, "--max-frames", "3", "--detections", str(jsonl), "--stats-json", str(stats),
                            "--no-progress"], capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert p.returncode == 0, p.stderr
        ran = json.loads(stats.read_text())["detector"]["model"]
        assert ran["name"] == model and ran["file"] == file, ran
        assert f"converted by Lookout from {converted_from} (sha256 " in ran["source"], ran
        lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
        assert [l["frame"] for l in lines] == [0, 1, 2] and not any("model" in l for l in lines)
        assert any(d["label"] == "person" for l in lines for d in l["detections"])
