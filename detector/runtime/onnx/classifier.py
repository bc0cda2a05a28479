"""A quantised classifier's integer graph in ONNX Runtime, from the cache, without torch: the same
graph, input and softmax as the torch classifier's ONNX Runtime mode, so the same probabilities."""
from __future__ import annotations

import numpy as np

from detector.runtime.classifier import Classifier, ClassifierPreprocessing
from detector.runtime.host import default_threads
from detector.runtime.onnx.optimise import fastest_graph
from detector.runtime.onnx.session import plain_ort_session


class OnnxClassifier(Classifier):
    """``graph``: the classifier's ONNX bytes (input "images", (N, 3, S, S) float32 ``(rgb - mean) /
    std``; output (N, classes) logits)."""

    def __init__(self, graph: bytes, labels: tuple[str, ...], preprocessing: ClassifierPreprocessing, name: str,
                 throughput: bool = False):
        super().__init__(labels, preprocessing, name, "onnxruntime", "cpu")
        # threads and spinning as the detector's (onnx.detector.OnnxDetector); the graph rewritten (or
        # its kept rewrite read) first, then the session: optimise.ort_session's two steps, made here
        # so the walk from load_models to the session stays four files, as the detector's
        threads = default_threads()
        self.session = plain_ort_session(fastest_graph(graph, threads), threads, spin=not throughput)
        self._out = self.session.get_outputs()[0].name
        self._in = self.session.get_inputs()[0].name  # "images" in Lookout's exports; a trained file's own name
        self.card: dict | None = None  # a classifier file's lookout.card (lookout train's), else None
        self._mean = np.asarray(preprocessing.mean, np.float32).reshape(1, 3, 1, 1)
        self._std = np.asarray(preprocessing.std, np.float32).reshape(1, 3, 1, 1)

    def _input(self, crops: list[np.ndarray]) -> np.ndarray:
        x = np.ascontiguousarray(self._rgb(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        x -= self._mean
        x /= self._std
        return x

    def _logits(self, x: np.ndarray) -> np.ndarray:
        with self._lock:
            return self.session.run([self._out], {self._in: x})[0]
