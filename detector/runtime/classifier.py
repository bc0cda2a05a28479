"""The classifier interface (``Classifier``) and what its runtimes share: preprocessing, softmax,
top-k, crops of boxes.

    clf = Classifier.load("mobilenet-v2", device="cpu")    # or a .tflite / .pt path
    clf.classify(bgr, k=5)              # [(label, probability), ...] best first
    clf.classify_boxes(bgr, xyxy, k=1)  # one such list per box, all boxes in one forward pass

Weights carry their preprocessing and labels: torchvision's (resize, centre crop, ImageNet mean/std)
or a TFLite file's (plain resize, its own input quantisation). A runtime (PyTorch in
``torch.classifier``, ONNX Runtime without torch in ``onnx.classifier``) supplies ``_input`` (crops ->
its input) and ``_logits`` (that input -> (N, classes) float32 NumPy logits).
"""
from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, ClassVar

import cv2
import numpy as np

from detector.ops.preprocess import as_bgr_uint8


@dataclass(frozen=True)
class ClassifierPreprocessing:
    """RGB; resize to ``size`` x ``size`` (or short side to ``resize_to`` then centre crop), then
    ``(x - mean) / std`` with x in 0..255."""

    size: int = 224
    resize_to: int = 0
    mean: tuple[float, float, float] = (128.0, 128.0, 128.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def to_dict(self) -> dict:
        return {"size": self.size, "resize_to": self.resize_to, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierPreprocessing":
        return cls(int(d["size"]), int(d["resize_to"]), tuple(d["mean"]), tuple(d["std"]))

    def image(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> size x size x 3 uint8, as the weights were trained/converted."""
        if not self.resize_to:
            return cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        h, w = rgb.shape[:2]
        s = self.resize_to / min(h, w)
        nh, nw = max(self.size, round(h * s)), max(self.size, round(w * s))
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        return resized[top:top + self.size, left:left + self.size]


class Classifier(ABC):
    """``name``; ``labels`` (index = output); ``pre``: its preprocessing; ``mode``: "eager", "jit" or
    "onnxruntime"; ``device``: "cpu", "cuda" or "cuda:N".

    ``Classifier.load(name_or_path, device="cpu", labels=None, mode="auto", throughput=False)`` is the
    way in (``runtime.loader.load_classifier``)."""

    # Set by ``runtime.loader``, which knows every runtime: the interface cannot import what implements it.
    _loader: ClassVar[Callable[..., "Classifier"] | None] = None

    def __init__(self, labels: tuple[str, ...], preprocessing: ClassifierPreprocessing, name: str, mode: str,
                 device: str):
        self.labels = tuple(labels)
        self.pre = preprocessing
        self.name = name
        self.mode = mode
        self.device = device
        self._lock = threading.Lock()

    @classmethod
    def load(cls, name_or_path: str | Path | None = None, device: str = "cpu", labels: str | Path | None = None,
             mode: str = "auto", throughput: bool = False) -> "Classifier":
        """By name (torchvision's ImageNet models; None: the default), ``.tflite`` file (``labels``: its
        labels file, else one found beside it) or converted ``.pt`` checkpoint, in ``mode`` ("auto": the
        fastest exact here). ``throughput``: for lossless runs (ONNX Runtime's workers never spin)."""
        if Classifier._loader is None:
            raise RuntimeError("Classifier.load needs detector.runtime.loader imported (from detector import Classifier does)")
        return Classifier._loader(name_or_path, device, labels, mode, throughput)

    def save(self, path: str | Path, conv) -> None:
        """Save the converted TFLite classifier ``conv`` this was built from as a Lookout checkpoint
        (labels included; ``models.quant_weights``, which needs torch)."""
        from detector.models.quant_weights import save_classifier
        save_classifier(conv, self.labels, path)

    @abstractmethod
    def _input(self, crops: list[np.ndarray]):
        """What ``_logits`` takes for these BGR crops."""

    @abstractmethod
    def _logits(self, x) -> np.ndarray:
        """(N, classes) float32 logits for ``_input``'s output."""

    def _rgb(self, crops: list[np.ndarray]) -> np.ndarray:
        """BGR crops -> (N, S, S, 3) uint8 RGB, resized as the weights expect."""
        return np.stack([self.pre.image(cv2.cvtColor(c, cv2.COLOR_BGR2RGB)) for c in crops])

    @staticmethod
    def softmax(logits: np.ndarray) -> np.ndarray:
        """Row-wise softmax of (N, classes) logits, float32."""
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _probs(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.softmax(self._logits(self._input(crops)))

    def _top(self, p: np.ndarray, k: int) -> list[tuple[str, float]]:
        idx = np.argsort(-p, kind="stable")[:k]
        return [(self.labels[i], float(p[i])) for i in idx]

    def classify(self, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """Top-k (label, probability) for the whole image (HxWx3 uint8 BGR), best first."""
        return self._top(self._probs([as_bgr_uint8(image)])[0], k)

    def classify_boxes(self, image: np.ndarray, xyxy: np.ndarray, k: int = 1) -> list[list[tuple[str, float]]]:
        """Top-k for each box (N, 4) xyxy in image pixels, in one batched forward pass.

        Boxes are clipped to the image; a box with nothing left (empty or zero area) is a ValueError
        naming it.
        """
        image = as_bgr_uint8(image)
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if not len(boxes):
            return []
        h, w = image.shape[:2]
        crops = []
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            ix1, iy1 = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
            ix2, iy2 = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
            if not np.isfinite([x1, y1, x2, y2]).all() or ix2 <= ix1 or iy2 <= iy1:
                raise ValueError(f"box {i} {[float(v) for v in (x1, y1, x2, y2)]} has no area inside the "
                                 f"{w}x{h} image; expected x1 < x2 and y1 < y2 overlapping it")
            crops.append(image[iy1:iy2, ix1:ix2])
        return [self._top(p, k) for p in self._probs(crops)]
