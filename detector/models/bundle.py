"""Lookout's own detector files: one ONNX graph whose card (``models.card``) says everything needed
to run it without torch: labels, preprocessing and the postprocessing's settings. Written by
``convert.bundle_export`` and the torch runtime's export, read by ``runtime.onnx``.

The graph takes "images", (N, 3, H, W) float32, and returns box encodings (N, A, 4) and class
logits (N, A, C+1) before postprocessing. Decoder kinds of these files:

- ``"ssd_anchors"``: the TF OD API graph's postprocessing (``ops.postprocess.GraphPostprocess``):
  ``anchors`` (A, 4) normalised ``[ymin, xmin, ymax, xmax]``, ``box_scales`` [ty, tx, th, tw];
- ``"tflite_ssd"``: TFLite's post-processing op, integer-exact (``ops.tflite_postprocess``): the
  same two plus ``box_grid``, ``logit_grid``, ``score_grid`` ([scale, zero point] of each output),
  ``op_score_threshold`` and ``max_detections``.

Where they live: the embedded models as ``assets/NAME.onnx``; any other checkpoint's export in the
cache as ``onnx/KEY.onnx``, KEY = ``file_key`` of the checkpoint (its bytes and ``BUNDLE_FORMAT``).
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from detector.models.card import CardError, check_card, pack_array, read_card, unpack_array, with_card
from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.ops.postprocess import GraphPostprocess
from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.util.download import cache_dir
from detector.util.files import keep_cache_file, sha256_file

BUNDLE_FORMAT = "lookout-onnx-bundle/3"  # /3: one file, its card in the graph's metadata
OWN_DECODERS = ("ssd_anchors", "tflite_ssd")


def file_key(path: Path) -> str:
    """Cache key of a checkpoint: its bytes and the bundle format (a new export when either changes)."""
    return sha256_file(path, prefix=BUNDLE_FORMAT.encode())[:16]


def cached_bundle_path(key: str) -> Path:
    return cache_dir() / "onnx" / f"{key}.onnx"


def card_preprocessing(pre: Preprocessing) -> dict:
    """The card's input entry for ``pre`` (``x * scale + offset`` as ``(x - mean) / std``, chosen
    so that ``preprocessing_of`` gives back exactly ``scale`` and ``offset``)."""
    std = 1.0 / pre.scale
    mean = -pre.offset * std
    if 1.0 / std != pre.scale or -mean / std != pre.offset:
        raise ValueError(f"scale {pre.scale!r} and offset {pre.offset!r} have no exact mean/std")
    return {"size": [int(v) for v in pre.size], "layout": "NCHW", "dtype": "float32", "colour": "RGB",
            "mean": [mean], "std": [std], "resize": "stretch", "interpolation": pre.resize}


def preprocessing_of(card: dict) -> Preprocessing:
    """The ``Preprocessing`` of one of Lookout's own cards (a single mean and std, stretched)."""
    inp = card["input"]
    if len(inp["mean"]) != 1 or len(inp["std"]) != 1 or inp["resize"] != "stretch" or inp["layout"] != "NCHW":
        raise CardError("a Lookout SSD card takes one mean and std, stretch resize and NCHW")
    std, mean = float(inp["std"][0]), float(inp["mean"][0])
    return Preprocessing(tuple(int(v) for v in inp["size"]), 1.0 / std, -mean / std, str(inp["interpolation"]))


def decoder_of(postprocessor) -> dict:
    """The card's decoder entry for one of Lookout's SSD postprocessors."""
    if isinstance(postprocessor, TFLiteSSDPostprocess):
        p = postprocessor
        return {"kind": "tflite_ssd", "anchors": pack_array(p.anchors), "box_scales": [float(v) for v in p.scales],
                "box_grid": [float(v) for v in p.box_grid], "logit_grid": [float(v) for v in p.logit_grid],
                "score_grid": [float(v) for v in p.score_grid], "op_score_threshold": float(p.score_threshold),
                "max_detections": int(p.max_detections)}
    return {"kind": "ssd_anchors", "anchors": pack_array(postprocessor.anchors),
            "box_scales": [float(v) for v in postprocessor.box_coder.scale_factors]}


def postprocessor_of(card: dict):
    """The postprocessor a card's decoder names (``decoder_of`` backwards)."""
    d = card["decoder"]
    scales = tuple(float(v) for v in d["box_scales"])
    if d["kind"] == "tflite_ssd":
        grid = lambda k: tuple(float(v) for v in d[k])  # noqa: E731
        return TFLiteSSDPostprocess(unpack_array(d["anchors"]), scales, grid("box_grid"), grid("logit_grid"),
                                    grid("score_grid"), float(d["op_score_threshold"]), int(d["max_detections"]))
    return GraphPostprocess(unpack_array(d["anchors"]), FasterRcnnBoxCoder(scales))


def detector_card(name: str, labels: tuple[str, ...], preprocessing: Preprocessing, postprocessor,
                  source: str = "", licence: str = "") -> dict:
    return {"format": 1, "name": name, "task": "detect", "labels": list(labels),
            "input": card_preprocessing(preprocessing), "decoder": decoder_of(postprocessor),
            "source": source, "licence": licence}


def bundle_bytes(graph: bytes, name: str, labels: tuple[str, ...], preprocessing: Preprocessing, postprocessor,
                 source: str = "", licence: str = "") -> bytes:
    """The graph with its card: a complete Lookout detector file."""
    return with_card(graph, detector_card(name, labels, preprocessing, postprocessor, source, licence))


def read_bundle(path: Path) -> tuple[bytes, dict] | None:
    """(graph bytes, card) of a Lookout detector file with a card of one of ``OWN_DECODERS``, else
    None (absent, damaged, a foreign model, an older cache entry)."""
    try:
        data = path.read_bytes()
        card = read_card(data)
    except (OSError, ValueError):  # unreadable or damaged (CardError is a ValueError): rebuilt or refused
        return None
    if card is None or card.get("task") != "detect" or card.get("decoder", {}).get("kind") not in OWN_DECODERS:
        return None
    return data, card


def keep_bundle(path: Path, graph: bytes, name: str, labels, preprocessing: Preprocessing,
                postprocessor) -> tuple[bytes, dict]:
    """Keep a checkpoint's export as one file at ``path`` (in the cache) and return (its bytes, its
    card); a read-only cache only costs the export again later."""
    card = detector_card(name, tuple(labels), preprocessing, postprocessor)
    data = with_card(graph, card)
    keep_cache_file(path, data)
    return data, check_card(card)


# A classifier file is one ONNX graph with a card too: task "classify", decoder {"kind": "softmax"}
# (logits (N, classes) in, probabilities out), input (N, 3, S, S) float32 ``(rgb - mean) / std``,
# stretched. A quantised classifier's integer graph (``qlinear_export.export_qlinear``) is kept in the
# cache as KEY.classifier.onnx, KEY a hash of the model file and its labels file, so that later
# starts run it in ONNX Runtime without torch; ``lookout train`` writes the same kind of file.
CLASSIFIER_BUNDLE_FORMAT = "lookout-onnx-classifier/2"  # /2: one file, its card in the graph's metadata


def classifier_key(model: Path, labels: Path | None = None) -> str:
    """Cache key of a classifier file and its labels file (a new export when either changes)."""
    h = hashlib.sha256(CLASSIFIER_BUNDLE_FORMAT.encode() + b"\0" + model.read_bytes())
    if labels is not None:
        h.update(b"\0" + labels.read_bytes())
    return h.hexdigest()[:16]


def classifier_bundle_path(key: str) -> Path:
    return cache_dir() / "onnx" / f"{key}.classifier.onnx"


def classifier_card(name: str, labels: tuple[str, ...], preprocessing: dict) -> dict | None:
    """The card of a classifier with ``preprocessing`` (``ClassifierPreprocessing.to_dict``); None
    for a short-side resize and centre crop, which the card does not describe."""
    if preprocessing.get("resize_to"):
        return None
    size = int(preprocessing["size"])
    return {"format": 1, "name": name, "task": "classify", "labels": list(labels),
            "input": {"size": [size, size], "layout": "NCHW", "dtype": "float32", "colour": "RGB",
                      "mean": [float(v) for v in preprocessing["mean"]], "std": [float(v) for v in preprocessing["std"]],
                      "resize": "stretch"},
            "decoder": {"kind": "softmax"}}


def classifier_preprocessing(card: dict) -> dict:
    """A classify card's input as ``ClassifierPreprocessing.from_dict`` takes it; CardError where
    the card asks for what the classifiers don't do."""
    inp = card["input"]
    h, w = inp["size"] if inp.get("size") else (0, 0)
    if h != w or not h or inp["layout"] != "NCHW" or inp["dtype"] != "float32" or inp["colour"] != "RGB" \
            or inp["resize"] != "stretch" or card.get("decoder", {}).get("kind", "softmax") != "softmax":
        raise CardError(f"{card.get('name') or 'this classifier'}: a classifier card takes a square size, NCHW float32 "
                        f"RGB input, stretch resize and the softmax decoder")
    three = lambda v: [float(x) for x in (v * 3 if len(v) == 1 else v)]  # noqa: E731
    return {"size": int(h), "resize_to": 0, "mean": three(inp["mean"]), "std": three(inp["std"])}


def read_classifier_file(path: Path) -> tuple[bytes, dict] | None:
    """(graph bytes, card) of a classifier file with a classify card, else None (absent, damaged, no card)."""
    try:
        data = path.read_bytes()
        card = read_card(data)
    except (OSError, ValueError):
        return None
    if card is None or card.get("task") != "classify" or not card.get("labels"):
        return None
    return data, card


def save_classifier_bundle(key: str, graph: bytes, labels: tuple[str, ...], preprocessing: dict,
                           name: str = "") -> None:
    """Keep a classifier's graph with its card in the cache, atomically; a read-only cache (or a
    preprocessing the card does not describe) only costs torch's import later."""
    card = classifier_card(name, tuple(labels), preprocessing)
    if card is not None:
        keep_cache_file(classifier_bundle_path(key), with_card(graph, card))


def read_classifier_bundle(key: str) -> tuple[bytes, tuple[str, ...], dict] | None:
    """(graph, labels, preprocessing dict) kept under ``key``, or None (absent, damaged, other format)."""
    found = read_classifier_file(classifier_bundle_path(key))
    if found is None:
        return None
    try:
        return found[0], tuple(found[1]["labels"]), classifier_preprocessing(found[1])
    except CardError:
        return None
