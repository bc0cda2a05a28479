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
import io
import zipfile
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


# A quantised classifier's integer graph (``qlinear_export.export_qlinear``) is kept in the cache as
# KEY.classifier.onnx + KEY.classifier.npz (labels, preprocessing), KEY a hash of the model file and
# its labels file, so that later starts run it in ONNX Runtime without torch.
CLASSIFIER_BUNDLE_FORMAT = "lookout-onnx-classifier/1"


def classifier_key(model: Path, labels: Path | None = None) -> str:
    """Cache key of a classifier file and its labels file (a new export when either changes)."""
    h = hashlib.sha256(CLASSIFIER_BUNDLE_FORMAT.encode() + b"\0" + model.read_bytes())
    if labels is not None:
        h.update(b"\0" + labels.read_bytes())
    return h.hexdigest()[:16]


def classifier_bundle_paths(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "onnx"
    return folder / f"{key}.classifier.onnx", folder / f"{key}.classifier.npz"


def save_classifier_bundle(key: str, graph: bytes, labels: tuple[str, ...], preprocessing: dict) -> None:
    """Keep a classifier's graph, labels and preprocessing (``ClassifierPreprocessing.to_dict``) in
    the cache, atomically; a read-only cache only costs torch's import later."""
    onnx_path, meta_path = classifier_bundle_paths(key)
    buf = io.BytesIO()
    np.savez(buf, format=np.array(CLASSIFIER_BUNDLE_FORMAT), key=np.array(key), labels=np.array(labels),
             size=np.int64(preprocessing["size"]), resize_to=np.int64(preprocessing["resize_to"]),
             mean=np.array(preprocessing["mean"], np.float64), std=np.array(preprocessing["std"], np.float64))
    keep_cache_file(onnx_path, graph)
    keep_cache_file(meta_path, buf.getvalue())


def read_classifier_bundle(key: str) -> tuple[bytes, tuple[str, ...], dict] | None:
    """(graph, labels, preprocessing dict) kept under ``key``, or None (absent, damaged, other format)."""
    onnx_path, meta_path = classifier_bundle_paths(key)
    try:
        with np.load(meta_path, allow_pickle=False) as z:
            meta = {k: z[k] for k in z.files}
        graph = onnx_path.read_bytes()
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None
    if str(meta.get("format")) != CLASSIFIER_BUNDLE_FORMAT or str(meta.get("key")) != key:
        return None
    pre = {"size": int(meta["size"]), "resize_to": int(meta["resize_to"]),
           "mean": [float(v) for v in meta["mean"]], "std": [float(v) for v in meta["std"]]}
    return graph, tuple(str(v) for v in meta["labels"]), pre
