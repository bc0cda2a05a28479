"""What Lookout's ONNX files hold, for the code that writes them (``convert.bundle_export``,
the torch runtime's export) and the code that reads them without torch (``runtime.onnx``).

A bundle is a graph and its metadata, keyed by the checkpoint file's bytes: in the cache as
``KEY.onnx`` + ``KEY.npz``, or beside its checkpoint as ``NAME.onnx`` + ``NAME.onnx.npz``. The npz
holds the labels, the preprocessing and the postprocessing's settings (anchors and box-coder scales,
and for TFLite SSDs the op's grids and limits). The graph takes "images", (N, 3, H, W) float32, and
returns box encodings (N, A, 4) and class logits (N, A, C+1) before postprocessing.
"""
from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np

from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.ops.postprocess import GraphPostprocess
from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.util.download import cache_dir
from detector.util.files import keep_cache_file, sha256_file

# The integer graphs' metadata entry describing the residual adds and output concatenations that
# ONNX Runtime's fused ops may replace (written by ``qlinear_export``, read by the runtime's rewrites).
FUSABLE_OPS_KEY = "lookout.fusable_ops"
BUNDLE_FORMAT = "lookout-onnx-bundle/2"  # /2: TF SAME pads folded into the convs


def file_key(path: Path) -> str:
    """Cache key of a checkpoint: its bytes and the bundle format (a new export when either changes)."""
    return sha256_file(path, prefix=BUNDLE_FORMAT.encode())[:16]


def bundle_paths(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "onnx"
    return folder / f"{key}.onnx", folder / f"{key}.npz"


def beside_paths(ckpt: Path) -> tuple[Path, Path]:
    """Where a bundle shipped with a checkpoint lives: NAME.onnx and NAME.onnx.npz."""
    return ckpt.with_suffix(".onnx"), ckpt.with_suffix(".onnx.npz")


def read_meta(meta_path: Path, key: str) -> dict | None:
    """A bundle's metadata if it is of this format and was made from the checkpoint ``key`` names."""
    try:
        with np.load(meta_path, allow_pickle=False) as z:
            meta = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # damaged: the torch path rebuilds the cached one
    if str(meta.get("format")) != BUNDLE_FORMAT or str(meta.get("key")) != key:
        return None
    return meta


def find_bundle(ckpt: Path, key: str | None = None) -> tuple[Path, dict] | None:
    """(graph path, metadata) of a valid bundle for checkpoint ``ckpt`` (whose ``file_key`` is ``key``):
    the cache's, else one beside it."""
    key = key or file_key(ckpt)
    for onnx_path, meta_path in (bundle_paths(key), beside_paths(ckpt)):
        if onnx_path.is_file() and meta_path.is_file():
            meta = read_meta(meta_path, key)
            if meta is not None:
                return onnx_path, meta
    return None


def postprocess_meta(postprocessor) -> dict:
    """What a bundle keeps of a model's postprocessor (``postprocessor_from_meta`` rebuilds it)."""
    if isinstance(postprocessor, TFLiteSSDPostprocess):
        p = postprocessor
        return {"kind": np.array("tflite_ssd"), "anchors": np.asarray(p.anchors, np.float32),
                "box_scales": np.array(p.scales, np.float64), "box_grid": np.array(p.box_grid, np.float64),
                "logit_grid": np.array(p.logit_grid, np.float64), "score_grid": np.array(p.score_grid, np.float64),
                "op_score_threshold": np.float64(p.score_threshold), "max_detections": np.int64(p.max_detections)}
    return {"kind": np.array("graph"), "anchors": np.asarray(postprocessor.anchors, np.float32),
            "box_scales": np.array(postprocessor.box_coder.scale_factors, np.float64)}


def postprocessor_from_meta(meta: dict):
    scales = tuple(float(v) for v in meta["box_scales"])
    if str(meta.get("kind", "graph")) == "tflite_ssd":
        grid = lambda k: tuple(float(v) for v in meta[k])  # noqa: E731
        return TFLiteSSDPostprocess(meta["anchors"], scales, grid("box_grid"), grid("logit_grid"), grid("score_grid"),
                                    float(meta["op_score_threshold"]), int(meta["max_detections"]))
    return GraphPostprocess(meta["anchors"], FasterRcnnBoxCoder(scales))


def bundle_meta(key: str, labels: tuple[str, ...], preprocessing: Preprocessing, postprocessor) -> dict:
    """A bundle's metadata as ``read_meta`` gives it back: NumPy values by name."""
    return {"format": np.array(BUNDLE_FORMAT), "key": np.array(key), "labels": np.array(labels),
            "size": np.array(preprocessing.size, np.int64), "scale": np.float64(preprocessing.scale),
            "offset": np.float64(preprocessing.offset), "resize": np.array(preprocessing.resize),
            **postprocess_meta(postprocessor)}


def save_bundle_meta(key: str, labels: tuple[str, ...], preprocessing: Preprocessing, postprocessor,
                     meta: Path | None = None) -> dict:
    """Write the metadata beside KEY.onnx in the cache (or at ``meta``), atomically, and return it;
    a read-only cache only costs torch's import later."""
    values = bundle_meta(key, labels, preprocessing, postprocessor)
    buf = io.BytesIO()
    np.savez(buf, **values)
    keep_cache_file(meta or bundle_paths(key)[1], buf.getvalue())
    return values


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
