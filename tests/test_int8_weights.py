"""Signed weights for the integer graphs (runtime.onnx.rewrites.int8_weights): used only where they are exact here."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ASSETS, DEMO_CLIP, read_frame
from detector.runtime.host import has_vnni
from detector.runtime.onnx.rewrites.int8_weights import fastest_int8_graph, signed
from detector.runtime.onnx.session import plain_ort_session

COCO_GRAPH = ASSETS / "ssd_mobilenetv2_coco.onnx"


def _outputs(session, frames):
    from detector.ops.preprocess import CvLinearResize
    resize = CvLinearResize((300, 300))
    # the COCO graph's input holds uint8 - 128, what its bundle's preprocessing makes
    return [session.run(None, {"images": resize.batch([f], 1.0, -128.0)}) for f in frames]


def test_the_rewritten_coco_graph_has_int8_weights_and_the_same_products():
    import onnx
    from onnx import numpy_helper
    original, rewritten = onnx.load(COCO_GRAPH), onnx.load_from_string(signed(COCO_GRAPH.read_bytes()))
    inits = {i.name: numpy_helper.to_array(i) for i in original.graph.initializer}
    new = {i.name: numpy_helper.to_array(i) for i in rewritten.graph.initializer}
    convs = [(a, b) for a, b in zip(original.graph.node, rewritten.graph.node) if a.op_type == "QLinearConv"]
    assert len(convs) == 72
    for a, b in convs:
        w, zp = inits[a.input[3]].astype(np.int32), int(inits[a.input[5]])
        w8, zp8 = new[b.input[3]], int(new[b.input[5]])
        assert w8.dtype == np.int8
        assert np.array_equal(w - zp, w8.astype(np.int32) - zp8)  # every product (w - zp) * x unchanged


def test_fastest_graph_is_the_int8_one_only_where_it_gives_the_same_integers(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    data = COCO_GRAPH.read_bytes()
    chosen = fastest_int8_graph(data, 2)
    if not has_vnni():
        # AVX2 without VNNI: ORT's u8 x s8 kernels add products in saturating int16
        assert chosen == data
        pytest.skip("this CPU has no VNNI: the uint8 graph is kept, as checked above")
    assert chosen != data and list((tmp_path / "onnx").glob("*.s8.*.onnx"))
    frames = [read_frame(DEMO_CLIP, i) for i in (0, 15, 30, 45)]
    ours, reference = _outputs(plain_ort_session(chosen, 2), frames), _outputs(plain_ort_session(data, 2), frames)
    for a, b in zip(ours, reference):
        assert all(np.array_equal(x, y) for x, y in zip(a, b))
    assert fastest_int8_graph(data, 2) == chosen  # the second start reads the kept graph


def test_a_float_graph_is_left_as_it_is(tmp_path, monkeypatch):
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    data = (ASSETS / "ssdlite_mobilenetv2_person.onnx").read_bytes()
    assert fastest_int8_graph(data, 2) is data and signed(data) is None
    assert not (tmp_path / "onnx").exists()
