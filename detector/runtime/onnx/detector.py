"""The detector started without torch: an exported graph in ONNX Runtime, from its bundle.

A bundle (``convert.onnx_format``) is kept in the cache, keyed by the checkpoint file's bytes, or
ships beside its checkpoint (as the embedded models' do). Loading it here needs no torch, which
alone takes about 2.5 s to import on the benchmark machine, and computes the same numbers as the
torch model's ONNX Runtime mode: same graph, same NumPy pre- and postprocessing.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from detector.convert.onnx_format import find_bundle, postprocessor_from_meta
from detector.models.registry import checkpoint_file, display_name
from detector.ops.preprocess import Preprocessing
from detector.runtime.base import DetectorCore
from detector.runtime.host import device_name, ort_installed
from detector.runtime.onnx.optimise import ort_session
from detector.runtime.options import LoadOptions, load_options, select_mode


class OnnxDetector(DetectorCore):
    """An exported detector (SSDLite-MobileNetV2's float graph, a quantised SSD's integer graph, or
    an --int8 graph) on the CPU in ONNX Runtime; no torch in the process.

    ``graph_path``: the graph's file (read here unless ``graph`` gives its bytes); ``meta``: the
    bundle's metadata (``onnx_format.bundle_meta``)."""

    def __init__(self, graph_path: Path, meta: dict, name: str, options: LoadOptions | None = None,
                 mode: str = "onnxruntime", graph: bytes | None = None):
        options = options or LoadOptions()
        # torch's default thread count (OMP_NUM_THREADS, else one per physical core = ORT's 0);
        # throughput: a lossless run's detector, whose workers must not spin (optimise.ort_session)
        self.session = ort_session(graph if graph is not None else graph_path.read_bytes(),
                                   int(os.environ.get("OMP_NUM_THREADS") or 0), spin=not options.throughput)
        self.graph_path, self.meta = graph_path, meta
        self.outputs = [o.name for o in self.session.get_outputs()]
        size = tuple(int(v) for v in meta["size"])
        self.preprocessing = Preprocessing(size, float(meta["scale"]), float(meta["offset"]),
                                           str(meta.get("resize", "tf_bilinear")))
        self.resize = self.preprocessing.resizer()
        super().__init__(tuple(str(v) for v in meta["labels"]), postprocessor_from_meta(meta), size, name,
                         mode, "cpu", options.score_threshold, options.iou_threshold)

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        x = self._resized(images, timings)
        with self._lock:
            enc, logits = self.session.run(self.outputs, {"images": x})
        return enc, logits


def load_cached(name_or_path, options: LoadOptions | str | None = None, **changes) -> OnnxDetector | None:
    """The detector ``Detector.load`` would give, from a bundle without torch; None when that
    choice needs torch (a GPU may be used, an explicit mode, no bundle yet, a frozen graph).
    ``options`` and ``changes``: as ``options.load_options``."""
    options = load_options(options, **changes)
    if options.half or options.mode != "auto" or options.device not in ("auto", "cpu"):
        return None  # an explicit mode names a torch-side runtime (onnxruntime: behind the torch model)
    if device_name(options.device) != "cpu" or select_mode("cpu", options.mode) != "onnxruntime":
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
        return OnnxDetector(found[0], found[1], display_name(name_or_path), options)
    except (OSError, ValueError, KeyError):
        return None  # an unreadable graph: the torch path rebuilds the cached one
