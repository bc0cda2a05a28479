"""Property-based tests: whatever the input, only clear ValueErrors (or a correct answer), never a crash
of the interpreter or a hang. Mutated model files go through the converters' readers."""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import DEMO_CLIP, FIXTURES, read_frame, shared_path

FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                          HealthCheck.too_slow])


@pytest.fixture(scope="module")
def frame():
    return read_frame(DEMO_CLIP, 0)


def _image(draw, frame):
    h = draw(st.integers(1, 2160))
    w = draw(st.integers(1, 3840))
    channels = draw(st.sampled_from([None, 1, 3, 4, 2, 5]))
    dtype = draw(st.sampled_from([np.uint8, np.uint8, np.uint8, np.float32, np.uint16, np.int64]))
    shape = (h, w) if channels is None else (h, w, channels)
    if draw(st.booleans()) and dtype == np.uint8 and channels == 3:
        img = np.ascontiguousarray(np.resize(frame, shape))  # real picture content
    else:
        img = np.full(shape, draw(st.integers(0, 255)), dtype=dtype)
    view = draw(st.sampled_from(["plain", "flipped", "strided", "transposed"]))
    if view == "flipped":
        img = img[::-1]
    elif view == "strided" and img.shape[0] > 1 and img.shape[1] > 1:
        img = img[::2, ::2]
    elif view == "transposed" and img.ndim >= 2:
        img = np.swapaxes(img, 0, 1)
    return img


@st.composite
def images(draw, frame):
    return _image(draw, frame)


def _valid(img) -> bool:
    return img.dtype == np.uint8 and img.size > 0 and (img.ndim == 2 or img.shape[2] in (1, 3, 4))


@FAST
@given(data=st.data())
def test_detect_accepts_or_refuses_clearly(person_detector, frame, data):
    img = data.draw(images(frame))
    if _valid(img):
        dets = person_detector.detect(img)
        h, w = img.shape[:2]
        assert dets.xyxy.dtype == np.float32 and np.isfinite(dets.xyxy).all()
        assert (dets.xyxy[:, [0, 2]] >= 0).all() and (dets.xyxy[:, [0, 2]] <= w + 1e-3).all()
        assert (dets.xyxy[:, [1, 3]] >= 0).all() and (dets.xyxy[:, [1, 3]] <= h + 1e-3).all()
    else:
        with pytest.raises(ValueError, match="expected"):
            person_detector.detect(img)


@pytest.fixture(scope="module")
def classifier():
    from detector import Classifier
    return Classifier.load(str(shared_path("models/mobilenet_v1_0.25_128_quant.tflite")),
                           labels=shared_path("models/imagenet_labels.txt"))


@FAST
@given(data=st.data())
def test_classify_accepts_or_refuses_clearly(classifier, frame, data):
    img = data.draw(images(frame))
    if _valid(img):
        top = classifier.classify(img, k=3)
        assert len(top) == 3 and all(0 <= p <= 1 for _, p in top)
    else:
        with pytest.raises(ValueError, match="expected"):
            classifier.classify(img)


def _mutate(data: bytes, draw) -> bytes:
    buf = bytearray(data)
    kind = draw(st.sampled_from(["flip", "truncate", "splice", "zero"]))
    if kind == "truncate":
        return bytes(buf[: draw(st.integers(0, len(buf)))])
    for _ in range(draw(st.integers(1, 20))):
        i = draw(st.integers(0, len(buf) - 1))
        if kind == "flip":
            buf[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "zero":
            buf[i] = 0
        else:
            j = draw(st.integers(0, len(buf) - 1))
            buf[i:i + 8] = buf[j:j + 8]
    return bytes(buf)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_mutated_tflite_files_only_raise_value_errors(data):
    from detector.convert.tflite_mobilenet import convert_tflite
    src = (FIXTURES / "tflite" / "tiny_dense_not_mobilenet.tflite").read_bytes()
    with pytest.raises(ValueError):
        convert_tflite(_mutate(src, data.draw))


@pytest.fixture(scope="module")
def small_tflite():
    return shared_path("models/mobilenet_v1_0.25_128_quant.tflite").read_bytes()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_mobilenet_tflite(small_tflite, data):
    """A damaged real MobileNet: converted (if the damage missed what matters) or a ValueError."""
    from detector.convert.tflite_mobilenet import convert_tflite
    try:
        conv = convert_tflite(_mutate(small_tflite, data.draw))
    except ValueError:
        return
    assert conv.num_classes > 0


@pytest.fixture(scope="module")
def graph_head():
    """The real person graph (13 MB): every reader path, thousands of nodes."""
    return shared_path("models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb").read_bytes()


@pytest.mark.slow
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_graphs_only_raise_value_errors(graph_head, data):
    from detector.convert.graphdef import read_graphdef
    from detector.convert.tf_detection import convert_graph
    blob = _mutate(graph_head, data.draw)
    try:
        nodes = read_graphdef(blob)
    except ValueError:
        return
    assert isinstance(nodes, dict)
    with pytest.raises(ValueError):
        convert_graph(blob[: len(blob) // 3])  # a third of a graph never fits


def test_graph_field_of_the_wrong_wire_type_is_a_value_error():
    """Found by the fuzzer above: an attribute whose value is a number where a message belongs."""
    from detector.convert.graphdef import read_graphdef
    entry = b"\x0a\x01k" + b"\x10\x14"             # key "k", value: varint 20 (should be an AttrValue)
    node = b"\x0a\x01n" + b"\x2a" + bytes([len(entry)]) + entry
    with pytest.raises(ValueError, match="embedded message|wrong type"):
        read_graphdef(b"\x0a" + bytes([len(node)]) + node)
