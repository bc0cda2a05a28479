"""The detector started without torch: Lookout's exported graph in ONNX Runtime, from the cache.

``Detector.load(mode="onnxruntime")`` (the CPU default when ONNX Runtime is installed) exports the
model once and keeps a bundle in the cache, keyed by the checkpoint file's bytes:
``KEY.onnx`` (the network) and ``KEY.npz`` (labels, preprocessing and the postprocessing's
settings: anchors and box-coder scales, and for TFLite SSDs the op's grids and limits).
Later starts load that bundle here without importing torch, which alone takes about 2.5 s on the
benchmark machine, and compute the same numbers: same graph, same NumPy pre- and postprocessing.
A bundle may also ship beside its checkpoint (``NAME.onnx`` + ``NAME.onnx.npz``, as the embedded
model's does), used when its recorded key is the checkpoint's: the first run is fast too.
"""
from __future__ import annotations

import io
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.runtime.core import DetectorCore
from detector.models.registry import checkpoint_file, display_name
from detector.util.download import cache_dir
from detector.ops.postprocess import GraphPostprocess
from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.util.files import keep_cache_file, sha256_file
from detector.runtime.backend import device_name, ort_installed, ort_session, select_mode

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


def save_bundle_meta(key: str, labels: tuple[str, ...], preprocessing: Preprocessing, postprocessor,
                     meta: Path | None = None) -> None:
    """Write the metadata beside KEY.onnx in the cache (or at ``meta``), atomically; a read-only
    cache only costs torch's import later."""
    buf = io.BytesIO()
    np.savez(buf, format=np.array(BUNDLE_FORMAT), key=np.array(key), labels=np.array(labels),
             size=np.array(preprocessing.size, np.int64), scale=np.float64(preprocessing.scale),
             offset=np.float64(preprocessing.offset), resize=np.array(preprocessing.resize),
             **postprocess_meta(postprocessor))
    keep_cache_file(meta or bundle_paths(key)[1], buf.getvalue())


@dataclass(frozen=True)
class HostDevice:
    """Stands in for ``torch.device("cpu")`` where torch is not loaded: same ``.type`` and ``str()``."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


class OnnxDetector(DetectorCore):
    """An exported detector (SSDLite-MobileNetV2's float graph, or a quantised SSD's integer graph)
    on the CPU in ONNX Runtime; no torch in the process."""

    device = HostDevice()
    half = False
    int8_agreement: dict | None = None  # --int8 only: its agreement with the float model (int8_detector)

    def __init__(self, onnx_path: Path, meta: dict, name: str, score_threshold: float = 0.3,
                 iou_threshold: float = 0.6, mode: str = "onnxruntime", throughput: bool = False):
        # torch's default thread count (OMP_NUM_THREADS, else one per physical core = ORT's 0);
        # throughput: a lossless run's detector, whose workers must not spin (backend.ort_session)
        self.session = ort_session(onnx_path.read_bytes(), int(os.environ.get("OMP_NUM_THREADS") or 0),
                                   spin=not throughput)
        self.graph_path, self.meta = onnx_path, meta
        self.outputs = [o.name for o in self.session.get_outputs()]
        size = tuple(int(v) for v in meta["size"])
        self.preprocessing = Preprocessing(size, float(meta["scale"]), float(meta["offset"]),
                                           str(meta.get("resize", "tf_bilinear")))
        self.resize = self.preprocessing.resizer()
        super().__init__(tuple(str(v) for v in meta["labels"]), postprocessor_from_meta(meta), size, name,
                         mode, score_threshold, iou_threshold)

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        pre = self.preprocessing
        x = self.resize.batch(images, pre.scale, pre.offset)
        if timings is not None:
            timings["preprocess"] = (time.perf_counter() - t0) * 1000
        with self._lock:
            enc, logits = self.session.run(self.outputs, {"images": x})
        return enc, logits


def load_cached(name_or_path, device: str = "auto", mode: str = "auto", half: bool = False,
                score_threshold: float = 0.3, iou_threshold: float = 0.6,
                throughput: bool = False) -> OnnxDetector | None:
    """The detector ``Detector.load`` would give, from the cached bundle without torch; None when
    that choice needs torch (a GPU may be used, another mode, no bundle yet, a frozen graph)."""
    # A bad threshold is the caller's error, said here: not a reason to fall back to the torch path.
    if not 0.0 <= float(score_threshold) <= 1.0:
        raise ValueError(f"expected a score threshold in [0, 1], got {score_threshold}")
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"expected an NMS IoU threshold in (0, 1], got {iou_threshold}")
    if half or mode != "auto" or str(device) not in ("auto", "cpu"):
        return None  # an explicit mode names a torch-side runtime (onnxruntime: behind the torch model)
    if device_name(device) != "cpu" or select_mode("cpu", mode) != "onnxruntime":
        return None
    if not ort_installed(export=False):
        return None
    ckpt = checkpoint_file(name_or_path)
    if ckpt is None:
        return None
    found = find_bundle(ckpt)
    if found is None:
        return None
    try:
        return OnnxDetector(found[0], found[1], display_name(name_or_path), score_threshold, iou_threshold,
                            throughput=throughput)
    except (OSError, ValueError, KeyError):
        return None  # an unreadable graph: the torch path rebuilds the cached one
