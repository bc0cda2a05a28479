"""A Lookout model file describes itself: one ONNX file whose ``metadata_props`` carry a JSON card
under ``CARD_KEY``. Read and written here, below both ``convert/`` (which writes cards) and
``runtime/`` (which reads them), with the standard library and the ``onnx`` package only.

The card (format 1)::

    {"format": 1, "name": str, "task": "detect" | "classify", "labels": [str, ...],
     "input": {"size": [H, W], "layout": "NCHW" | "NHWC", "dtype": "float32" | "uint8",
               "colour": "RGB" | "BGR", "mean": [m] or [m, m, m], "std": [s] or [s, s, s],
               "resize": "stretch" | "letterbox", "pad": 0-255, "place": "centre" | "corner",
               "interpolation": "cv2_linear" | "tf_bilinear"},
     "decoder": {"kind": str, ...the kind's parameters},
     "source": str, "licence": str}

A network input pixel is ``(value - mean) / std`` of the resized image's 0-255 value (a uint8
input takes the value itself). ``place``: where a letterboxed image sits (``ops.detector_layouts``). ``labels``:
index = class id as the decoder gives it. Decoder kinds and their parameters are the runtime's
(``runtime.onnx.decoders``); an array parameter (SSD anchors) is ``{"shape": [...], "float32": BASE64}``
(the little-endian bytes, exact). Unknown keys are refused, so a typo never passes silently.
"""
from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np

CARD_KEY = "lookout.card"
CARD_FORMAT = 1
# The integer graphs' description of residual adds and output concatenations that ONNX Runtime's
# fused ops may replace (written by ``convert.qlinear_export``, read by ``runtime.onnx.rewrites``).
FUSABLE_OPS_KEY = "lookout.fusable_ops"

TOP_KEYS = ("format", "name", "task", "labels", "input", "decoder", "source", "licence",
            "objects", "trained")  # lookout train's: the detector labels it is for, how it was trained
INPUT_KEYS = ("size", "layout", "dtype", "colour", "mean", "std", "resize", "pad", "place", "interpolation")
_CHOICES = {"layout": ("NCHW", "NHWC"), "dtype": ("float32", "uint8"), "colour": ("RGB", "BGR"),
            "resize": ("stretch", "letterbox"), "place": ("centre", "corner"),
            "interpolation": ("cv2_linear", "tf_bilinear")}
INPUT_DEFAULTS = {"layout": "NCHW", "dtype": "float32", "colour": "RGB", "mean": [0.0], "std": [1.0],
                  "resize": "stretch", "pad": 114, "place": "centre", "interpolation": "cv2_linear"}


class CardError(ValueError):
    """A card that cannot be used; the message is one line saying what is wrong and what to write."""


def check_card(card: dict, where: str = "the card") -> dict:
    """``card`` with the input's defaults filled in, or CardError naming the first problem."""
    if not isinstance(card, dict):
        raise CardError(f"{where}: expected a JSON object, got {type(card).__name__}")
    unknown = sorted(set(card) - set(TOP_KEYS))
    if unknown:
        raise CardError(f"{where}: unknown key {unknown[0]!r}; the card's keys are {', '.join(TOP_KEYS)}")
    if card.get("format", CARD_FORMAT) != CARD_FORMAT:
        raise CardError(f"{where}: format {card.get('format')!r} is not one this Lookout reads (expected {CARD_FORMAT})")
    if card.get("task", "detect") not in ("detect", "classify"):
        raise CardError(f"{where}: task must be 'detect' or 'classify', got {card.get('task')!r}")
    labels = card.get("labels")
    if labels is not None and (not isinstance(labels, list) or not all(isinstance(v, str) for v in labels)):
        raise CardError(f"{where}: labels must be a list of names (index = class id)")
    inp = card.get("input", {})
    if not isinstance(inp, dict):
        raise CardError(f"{where}: input must be an object with keys {', '.join(INPUT_KEYS)}")
    unknown = sorted(set(inp) - set(INPUT_KEYS))
    if unknown:
        raise CardError(f"{where}: unknown input key {unknown[0]!r}; input's keys are {', '.join(INPUT_KEYS)}")
    inp = {**INPUT_DEFAULTS, **inp}
    for key, allowed in _CHOICES.items():
        if inp[key] not in allowed:
            raise CardError(f"{where}: input {key} must be one of {', '.join(allowed)}, got {inp[key]!r}")
    size = inp.get("size")
    if size is not None and (not isinstance(size, list) or len(size) != 2
                             or not all(isinstance(v, int) and v > 0 for v in size)):
        raise CardError(f"{where}: input size must be [height, width] in pixels, got {size!r}")
    for key in ("mean", "std"):
        v = inp[key]
        if not isinstance(v, list) or len(v) not in (1, 3) or not all(isinstance(x, (int, float)) for x in v):
            raise CardError(f"{where}: input {key} must be a list of 1 or 3 numbers, got {v!r}")
    if any(x == 0 for x in inp["std"]):
        raise CardError(f"{where}: input std must not be 0")
    if not isinstance(inp["pad"], int) or not 0 <= inp["pad"] <= 255:
        raise CardError(f"{where}: input pad must be a whole number 0-255, got {inp['pad']!r}")
    decoder = card.get("decoder")
    if decoder is not None and (not isinstance(decoder, dict) or not isinstance(decoder.get("kind"), str)):
        raise CardError(f"{where}: decoder must be an object with a 'kind'")
    return {**card, "input": inp}


def card_json(card: dict) -> str:
    """The card as stored: checked, keys in a fixed order (the same card, the same bytes)."""
    return json.dumps(check_card(card), sort_keys=True, separators=(",", ":"))


def parse_card(text: str | bytes, where: str = "the card") -> dict:
    try:
        card = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise CardError(f"{where}: not valid JSON ({e})") from None
    return check_card(card, where)


def pack_array(a: np.ndarray) -> dict:
    """A float32 array as a card value (exact: its bytes, base64)."""
    a = np.ascontiguousarray(a, dtype="<f4")
    return {"shape": list(a.shape), "float32": base64.b64encode(a.tobytes()).decode("ascii")}


def unpack_array(v: dict) -> np.ndarray:
    raw = base64.b64decode(v["float32"])
    return np.frombuffer(raw, dtype="<f4").reshape(v["shape"]).astype(np.float32)


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        b = data[i]
        value |= (b & 0x7F) << shift
        i, shift = i + 1, shift + 7
        if b < 0x80:
            return value, i


def _fields(data: bytes):
    """(field number, wire type, value) of a protobuf message's top-level fields: an int for
    varints, the bytes for fixed and length-delimited ones. ValueError when it is not protobuf."""
    i = 0
    while i < len(data):
        tag, i = _varint(data, i)
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            value, i = _varint(data, i)
        elif wire in (1, 5):
            n = 8 if wire == 1 else 4
            value, i = data[i:i + n], i + n
        elif wire == 2:
            n, i = _varint(data, i)
            value, i = data[i:i + n], i + n
        else:
            raise ValueError(f"wire type {wire}")
        if number == 0 or i > len(data):
            raise ValueError("not a protobuf message")
        yield number, wire, value


# ModelProto's field numbers (onnx.proto): graph 7, metadata_props 14 (StringStringEntryProto: key 1, value 2)
_GRAPH, _METADATA = 7, 14


def onnx_metadata(data: bytes) -> dict[str, str]:
    """A serialised ONNX model's ``metadata_props``, read from its top-level protobuf fields only:
    ``import onnx`` alone took 2.6 s on the benchmark machine, 25 times the whole torch-free model
    load. ValueError when ``data`` is not an ONNX model (no graph)."""
    props, graph = {}, False
    for number, wire, value in _fields(data):
        if number == _GRAPH and wire == 2:
            graph = True
        elif number == _METADATA and wire == 2:
            key = text = b""
            for n, w, v in _fields(value):
                if w == 2 and n == 1:
                    key = v
                elif w == 2 and n == 2:
                    text = v
            props[key.decode("utf-8", "replace")] = text.decode("utf-8", "replace")
    if not graph:
        raise ValueError("no graph")
    return props


def read_card(data: bytes) -> dict | None:
    """The card in a serialised ONNX model, checked; None when it has none; CardError when it is
    bad; ValueError when ``data`` is not ONNX."""
    text = onnx_metadata(data).get(CARD_KEY)
    return None if text is None else parse_card(text, f"the {CARD_KEY} entry")


def with_card(graph: bytes, card: dict) -> bytes:
    """The serialised ONNX ``graph`` with ``card`` as its ``CARD_KEY`` entry (any older one replaced)."""
    import onnx
    model = onnx.load_from_string(graph)
    props = [p for p in model.metadata_props if p.key != CARD_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(props)
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, card_json(card)
    return model.SerializeToString()


def read_onnx(path: str | Path) -> tuple[bytes, dict[str, str]]:
    """(bytes, metadata_props) of the ONNX file ``path`` (nothing in it runs: ONNX holds a graph and
    tensors), or a one-line ValueError when it can't be read or is not ONNX."""
    try:
        data = Path(path).read_bytes()
    except OSError as e:
        raise ValueError(f"cannot read model file {path}: {e.strerror or e}") from None
    try:
        return data, onnx_metadata(data)
    except ValueError:
        raise ValueError(f"{Path(path).name} is not an ONNX model file (expected a graph exported to .onnx)") from None
