"""ORT's fused integer ops in the integer graphs (runtime.onnx.rewrites.fused_ops): used only where exact here.

The interpreter parity of the graphs that ``ort_session`` runs (fused where exact) is checked by
tests/test_coco_model.py and tests/test_classifier.py; these check the fusing itself.
"""
from __future__ import annotations

import json
from collections import Counter

import numpy as np

from conftest import ASSETS, DEMO_CLIP, read_frame, shared_path
from detector.models.card import FUSABLE_OPS_KEY as META_KEY
from detector.runtime.onnx.session import plain_ort_session
from detector.runtime.onnx.rewrites.fused_ops import (add_reference, exact_add_scales, exact_concats, fusable,
                                        fused_graph, part_reference)

COCO_GRAPH = ASSETS / "ssd_mobilenetv2_coco.onnx"


def _ops(model: bytes) -> Counter:
    import onnx
    return Counter(n.op_type for n in onnx.load_from_string(model).graph.node)


def _raw(model: bytes, frames) -> list:
    from detector.ops.preprocess import CvLinearResize
    session, resize = plain_ort_session(model, 2), CvLinearResize((300, 300))
    return [session.run(None, {"images": resize.batch([f], 1.0, -128.0)}) for f in frames]


def test_the_coco_graph_describes_its_adds_and_concatenations():
    described = fusable(COCO_GRAPH.read_bytes())
    assert len(described["adds"]) == 10  # MobileNetV2's residual adds
    assert [len(c["parts"]) for c in described["concats"]] == [6, 6]  # boxes and classes, 6 feature maps
    a, b = np.array([0, 128, 255, 255], np.uint8), np.array([0, 128, 0, 255], np.uint8)
    out = add_reference(described["adds"][0], a, b)
    assert out.dtype == np.uint8 and out[0] < out[1] < out[3]  # a sum: grows with both inputs


def test_fused_coco_graph_gives_the_same_integers_on_real_frames(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    data = COCO_GRAPH.read_bytes()
    fused = fused_graph(data)
    ops, before = _ops(fused), _ops(data)
    scales = exact_add_scales(fusable(data)["adds"])
    # every add found exact after at most a few float32 steps is a QLinearAdd, and its ten ops are gone
    assert ops["QLinearAdd"] == sum(s is not None for s in scales) >= 1
    assert ops["Div"] == before["Div"] - ops["QLinearAdd"]
    assert ops["QLinearConcat"] == sum(exact_concats(fusable(data)["concats"]))
    assert list((tmp_path / "onnx").glob("*.fused.*.onnx"))
    frames = [read_frame(DEMO_CLIP, i) for i in (0, 20, 40)]
    for ours, theirs in zip(_raw(fused, frames), _raw(data, frames)):
        assert all(np.array_equal(x, y) for x, y in zip(ours, theirs))
        assert ours[1].max() > 200  # confident people in the demo clip: not an all-background output
    assert fused_graph(data) == fused  # the second start reads the kept graph


def test_an_add_is_fused_only_with_scales_that_give_every_pair():
    add = fusable(COCO_GRAPH.read_bytes())["adds"][0]
    clipped = dict(add, range=[10, 200])  # a clamp QLinearAdd cannot do: no scales give every pair
    found = exact_add_scales([add, clipped])
    assert found[0] is not None and found[1] is None
    a, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8))
    assert add_reference(clipped, a, b).min() == 10


def test_a_concatenation_with_two_output_grids_is_not_fused():
    concat = fusable(COCO_GRAPH.read_bytes())["concats"][1]
    parts = [dict(p) for p in concat["parts"]]
    parts[1]["out_zero_point"] += 1
    assert exact_concats([concat, dict(concat, parts=parts)]) == [True, False]
    x = np.arange(256, dtype=np.uint8)
    assert part_reference(parts[1], x).max() <= 255


def test_a_description_that_is_not_its_graph_is_caught_and_the_graph_kept(tmp_path, monkeypatch):
    import onnx
    from onnx import helper
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    m = onnx.load(COCO_GRAPH)
    props = {p.key: p.value for p in m.metadata_props}
    described = json.loads(props[META_KEY])
    described["adds"][3]["mult"][0] += 5000  # the ops still compute the true add
    helper.set_model_props(m, {META_KEY: json.dumps(described)})
    data = m.SerializeToString()
    assert fused_graph(data) is data  # the fused graph's outputs differed, so none of it is used
    assert list((tmp_path / "onnx").glob("*.fused.refused"))


def test_a_float_graph_is_left_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    data = (ASSETS / "ssdlite_mobilenetv2_person.onnx").read_bytes()
    assert fused_graph(data) is data and fusable(data) is None
    assert not (tmp_path / "onnx").exists()


def test_the_classifier_runs_fused_and_still_names_the_cat(tmp_path, monkeypatch):
    import cv2
    from detector import Classifier
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    clf = Classifier.load(str(shared_path("models/mobilenet_v2_1.0_224_quant.tflite")), device="cpu",
                          labels=shared_path("models/imagenet_labels.txt"))
    kept = list((tmp_path / "onnx").glob("*.fused.*.onnx"))
    assert len(kept) == 1 and _ops(kept[0].read_bytes())["QLinearAdd"] >= 1  # its 10 residual adds
    cat = clf.classify(cv2.imread(str(shared_path("media/cat.bmp"))), k=5)
    assert cat[0][0] in {"Egyptian cat", "tabby, tabby cat", "tiger cat"} and cat[0][1] > 0.35


def test_an_ort_that_cannot_run_the_fused_ops_keeps_the_graph(tmp_path, monkeypatch):
    import detector.runtime.onnx.rewrites.fused_ops as fused_ops
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))

    def no_contrib_ops(*_args, **_kwargs):
        raise RuntimeError("Could not find an implementation for QLinearAdd(1) node")
    monkeypatch.setattr(fused_ops, "_run", no_contrib_ops)
    data = COCO_GRAPH.read_bytes()
    assert fused_graph(data) is data
    (reason,) = (tmp_path / "onnx").glob("*.fused.refused")
    assert "QLinearAdd" in reason.read_text()


def test_a_damaged_kept_graph_is_checked_again_not_loaded(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    data = COCO_GRAPH.read_bytes()
    fused = fused_graph(data)
    (kept,) = (tmp_path / "onnx").glob("*.fused.*.onnx")
    kept.write_bytes(fused[: len(fused) // 2])  # a copy cut short
    again = fused_graph(data)
    assert again == fused  # checked and rewritten again, not the half file
    (kept,) = (tmp_path / "onnx").glob("*.fused.*.onnx")
    assert kept.read_bytes() == fused
    frames = [read_frame(DEMO_CLIP, 10)]
    assert all(np.array_equal(x, y) for x, y in zip(_raw(again, frames)[0], _raw(data, frames)[0]))


def test_a_later_start_reads_one_kept_graph_and_never_enters_the_rewrites(tmp_path, monkeypatch):
    """The rewrites run on a graph's first start here; what they made is kept once, under one key,
    and a later start reads that file and nothing else (the load walk's short path)."""
    import pytest

    import detector.runtime.onnx.rewrites.fused_ops as fused_ops
    import detector.runtime.onnx.rewrites.int8_weights as int8_weights
    from detector.runtime.onnx.optimise import fastest_graph
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    data = COCO_GRAPH.read_bytes()
    first = fastest_graph(data)
    assert first != data and _ops(first)["QLinearAdd"] >= 1  # fused here (and int8 weights on VNNI)
    assert len(list((tmp_path / "onnx").glob("*.fastest.*.onnx"))) == 1
    for module, name in ((fused_ops, "fused_graph"), (int8_weights, "fastest_int8_graph")):
        monkeypatch.setattr(module, name, lambda *a, **k: pytest.fail("rewrote on a later start"))
    assert fastest_graph(data) == first
    frames = [read_frame(DEMO_CLIP, i) for i in (5, 45)]
    for ours, theirs in zip(_raw(first, frames), _raw(data, frames)):
        assert all(np.array_equal(x, y) for x, y in zip(ours, theirs))
        assert ours[1].max() > 200  # confident people in the demo clip
    before = sorted((tmp_path / "onnx").iterdir())
    person = (ASSETS / "ssdlite_mobilenetv2_person.onnx").read_bytes()
    assert fastest_graph(person) is person and sorted((tmp_path / "onnx").iterdir()) == before  # float: no rewrite
