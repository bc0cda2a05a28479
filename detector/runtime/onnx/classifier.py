"""A quantised classifier's integer graph in ONNX Runtime, from the cache, without torch: the same
graph, input and softmax as the torch classifier's ONNX Runtime mode, so the same probabilities."""
from __future__ import annotations

import os

import numpy as np

from detector.runtime.classifier import Classifier, ClassifierPreprocessing
from detector.runtime.onnx.optimise import ort_session


class OnnxClassifier(Classifier):
    """``graph``: the classifier's ONNX bytes (input "images", (N, 3, S, S) float32 ``(rgb - mean) /
    std``; output (N, classes) logits)."""

    def __init__(self, graph: bytes, labels: tuple[str, ...], preprocessing: ClassifierPreprocessing, name: str,
                 throughput: bool = False):
        super().__init__(labels, preprocessing, name, "onnxruntime", "cpu")
        # threads and spinning as the detector's (onnx.detector.OnnxDetector)
        self.session = ort_session(graph, int(os.environ.get("OMP_NUM_THREADS") or 0), spin=not throughput)
        self._out = self.session.get_outputs()[0].name
        self._in = self.session.get_inputs()[0].name
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


def card_classifier(path: str, card: dict, throughput: bool = False) -> OnnxClassifier:
    """A classifier ONNX file with a ``lookout.card`` (``lookout train``'s, ``convert.card_io``): its
    labels and preprocessing from the card, its graph as it is (batched, int8 or float)."""
    from pathlib import Path

    from detector.runtime.onnx.session import plain_ort_session
    h, w = card["input"]["size"]
    if h != w:
        raise ValueError(f"{path}: input {h}x{w}; expected a square input")
    pre = ClassifierPreprocessing(int(h), 0, tuple(card["input"]["mean"]), tuple(card["input"]["std"]))
    clf = OnnxClassifier.__new__(OnnxClassifier)
    Classifier.__init__(clf, tuple(card["labels"]), pre, card.get("name") or Path(path).stem, "onnxruntime", "cpu")
    try:
        clf.session = plain_ort_session(Path(path).read_bytes(), int(os.environ.get("OMP_NUM_THREADS") or 0),
                                        not throughput)
    except Exception as e:  # ONNX Runtime's own error types for a graph it cannot load
        raise ValueError(f"{path}: ONNX Runtime cannot load it ({type(e).__name__}); train it again") from None
    outputs = clf.session.get_outputs()
    last = outputs[0].shape[-1] if outputs[0].shape else None
    if len(outputs) != 1 or (isinstance(last, int) and last != len(clf.labels)):
        raise ValueError(f"{path}: its output {outputs[0].shape} does not give one logit per label "
                         f"({len(clf.labels)}); train it again")
    clf._out, clf._in = outputs[0].name, clf.session.get_inputs()[0].name
    clf._mean = np.asarray(pre.mean, np.float32).reshape(1, 3, 1, 1)
    clf._std = np.asarray(pre.std, np.float32).reshape(1, 3, 1, 1)
    clf.card = card
    return clf
