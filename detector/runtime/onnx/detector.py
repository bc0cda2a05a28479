"""The detector started without torch: one of Lookout's own ONNX files (``models.bundle``: the
graph and its card) in ONNX Runtime.

Lookout's file for a model is the embedded asset (``assets/NAME.onnx``), the file the user names, or
the cache's export of a checkpoint. Loading it here needs no torch, which alone takes about 2.5 s
to import on the benchmark machine, and computes the same numbers as the torch model's ONNX Runtime
mode: same graph, same NumPy pre- and postprocessing.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from detector.models.bundle import cached_bundle_path, file_key, postprocessor_of, preprocessing_of, read_bundle
from detector.models.registry import MODELS, checkpoint_file, display_name
from detector.runtime.base import DetectorCore
from detector.runtime.host import default_threads, device_name, ort_installed
from detector.runtime.onnx.optimise import fastest_graph
from detector.runtime.onnx.session import plain_ort_session
from detector.runtime.options import LoadOptions, load_options, select_mode


class OnnxDetector(DetectorCore):
    """An exported detector (SSDLite-MobileNetV2's float graph, a quantised SSD's integer graph, or
    an --int8 graph) on the CPU in ONNX Runtime; no torch in the process.

    ``graph_path``: the graph's file (read here unless ``graph`` gives its bytes); ``card``: the
    model's card (``models.card``, a decoder of ``models.bundle.OWN_DECODERS``)."""

    def __init__(self, graph_path: Path, card: dict, name: str, options: LoadOptions | None = None,
                 mode: str = "onnxruntime", graph: bytes | None = None):
        options = options or LoadOptions()
        # torch's default thread count (OMP_NUM_THREADS, else one per physical core = ORT's 0);
        # throughput: a lossless run's detector, whose workers must not spin (optimise.ort_session)
        threads = default_threads()
        graph = fastest_graph(graph if graph is not None else graph_path.read_bytes(), threads)
        self.session = plain_ort_session(graph, threads, spin=not options.throughput)  # = optimise.ort_session
        self.graph_path, self.card = graph_path, card
        self.outputs = [o.name for o in self.session.get_outputs()]
        self.preprocessing = preprocessing_of(card)
        self.resize = self.preprocessing.resizer()
        super().__init__(tuple(card["labels"]), postprocessor_of(card), self.preprocessing.size, name,
                         mode, "cpu", options.score_threshold, options.iou_threshold)

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        x = self._resized(images, timings)
        with self._lock:
            enc, logits = self.session.run(self.outputs, {"images": x})
        return enc, logits


def own_file(name_or_path, key: str | None = None) -> Path | None:
    """Lookout's ONNX file for a detector name or path, if one exists: a named model's
    (``ModelInfo.bundle``: no hashing), an .onnx path, or the cache's export of a checkpoint file
    (``key``: its ``file_key`` if known; computed otherwise)."""
    name = str(name_or_path)
    if name in MODELS:
        path = MODELS[name].bundle
        return path if path is not None and path.is_file() else None
    if Path(name).suffix == ".onnx":
        return Path(name) if Path(name).is_file() else None
    ckpt = checkpoint_file(name_or_path)
    if ckpt is None:
        return None
    path = cached_bundle_path(key or file_key(ckpt))
    return path if path.is_file() else None


def load_cached(name_or_path, options: LoadOptions | str | None = None, **changes) -> OnnxDetector | None:
    """The detector ``Detector.load`` would give, from Lookout's own ONNX file without torch; None
    when that choice needs torch (a GPU may be used, an explicit mode, no file yet, a frozen graph)
    or the file is not one of Lookout's own. ``options`` and ``changes``: as ``options.load_options``."""
    options = load_options(options, **changes)
    if options.half or options.mode != "auto" or options.device not in ("auto", "cpu"):
        return None  # an explicit mode names a torch-side runtime (onnxruntime: behind the torch model)
    if device_name(options.device) != "cpu" or select_mode("cpu", options.mode) != "onnxruntime":
        return None
    if not ort_installed(export=False):
        return None
    path = own_file(name_or_path)
    found = read_bundle(path) if path is not None else None
    if found is None:
        return None
    try:
        return OnnxDetector(path, found[1], display_name(name_or_path), options, graph=found[0])
    except (OSError, ValueError, KeyError):
        return None  # an unreadable graph: the torch path rebuilds the cached one
