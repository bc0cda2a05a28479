"""The one detector interface (``Detector``) and what every runtime shares (``DetectorCore``):
thresholds, input checks, postprocessing to ``Detections``.

A runtime (PyTorch in ``torch.detector`` and ``torch.quant``, ONNX Runtime without torch in
``onnx.detector``) supplies ``_infer``: images -> raw (box_encodings (N, A, 4), class_logits
(N, A, C+1)) as float32 NumPy arrays, computed on the input the reference sees. The model's own
postprocessor turns them into ``Detections``: ``postprocess.GraphPostprocess`` (TF OD API graphs)
or ``tflite_postprocess.TFLiteSSDPostprocess`` (TFLite's post-processing op).
"""
from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from dataclasses import replace
from typing import Callable, ClassVar

import numpy as np

from detector.ops.postprocess import PostprocessConfig
from detector.ops.preprocess import as_bgr_uint8
from detector.runtime.options import checked_iou_threshold, checked_score_threshold
from detector.types.detections import Detections


class Detector(ABC):
    """What the engine, the window and API users may rely on, whichever runtime loaded.

    ``name``: the model as shown to people; ``labels``: class names, index = class id (0 =
    background); ``device``: "cpu", "cuda" or "cuda:N"; ``mode``: the runtime ("eager", "fused",
    "jit", "onnxruntime", "onnxruntime-int8"); ``half``: fp16 on CUDA; ``input_size``: the model's
    (H, W); ``int8_agreement``: for ``--int8`` models, their agreement with the float model on the
    calibration frames (``ops.agreement``), else None. ``model_info``: which model this is, as a run's
    summary records it (``runtime.loader``): ``name``, ``file`` (the file name it was read from,
    None for torchvision's) and ``source`` (where it came from: a Lookout file's card names what it
    was converted from, with that file's sha256). ``score_threshold`` and ``iou_threshold``
    may be set at any time, from any thread (ValueError outside [0, 1] and (0, 1]).

    ``Detector.load(name_or_path, device="cpu", ...)`` is the way in (``runtime.loader``).
    """

    name: str
    labels: tuple[str, ...]
    device: str
    mode: str
    half: bool
    input_size: tuple[int, int]
    int8_agreement: dict | None
    model_info: dict | None = None
    score_threshold: float
    iou_threshold: float

    # Set by ``runtime.loader``, which knows every runtime: the interface cannot import what implements it.
    _loader: ClassVar[Callable[..., "Detector"] | None] = None

    @classmethod
    def load(cls, name_or_path=None, options=None, **changes) -> "Detector":
        """A detector by registry name (``models.registry``; None: the default model) or path, as the
        fastest exact runtime for its options: a ``LoadOptions``, a device name, or keywords naming
        its fields (``device="cpu", mode="jit", score_threshold=0.5``). ValueError (one line) for a
        bad name, path, device, mode or threshold, for int8 where it can't be, or for a runtime that
        needs PyTorch where it is not installed."""
        if Detector._loader is None:
            raise RuntimeError("Detector.load needs detector.runtime.loader imported (from detector import Detector does)")
        return Detector._loader(name_or_path, options, **changes)

    @abstractmethod
    def detect_batch(self, images: list[np.ndarray], timings: dict | None = None) -> list[Detections]:
        """Detections for each HxWx3 uint8 BGR image (gray and BGRA accepted), xyxy in its pixels.
        ``timings``, if given, gets the preprocessing time in ms under "preprocess"."""

    def detect(self, image: np.ndarray) -> Detections:
        """Detections on one image (as ``detect_batch``)."""
        return self.detect_batch([image])[0]


class DetectorCore(Detector):
    """The shared NumPy path. ``score_threshold`` and ``iou_threshold`` may be changed at any time,
    from any thread; each call reads them once, so a call never mixes old and new settings."""

    half = False
    int8_agreement: dict | None = None

    def __init__(self, labels: tuple[str, ...], postprocessor, input_size: tuple[int, int], name: str, mode: str,
                 device: str, score_threshold: float, iou_threshold: float):
        self.labels = tuple(labels)
        self.postprocessor = postprocessor
        self.input_size = tuple(input_size)
        self.name = name
        self.mode = mode
        self.device = device
        self._post = PostprocessConfig(checked_score_threshold(score_threshold), checked_iou_threshold(iou_threshold))
        self._lock = threading.Lock()  # one forward pass at a time: the model is shared

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    def _resized(self, images: list[np.ndarray], timings: dict | None) -> np.ndarray:
        """The batch as the network takes it (the subclass's ``preprocessing`` and exact ``resize``),
        timed into ``timings["preprocess"]`` in ms."""
        t0 = time.perf_counter()
        pre = self.preprocessing
        x = self.resize.batch(images, pre.scale, pre.offset)
        if timings is not None:
            timings["preprocess"] = (time.perf_counter() - t0) * 1000
        return x

    @property
    def score_threshold(self) -> float:
        return self._post.score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        self._post = replace(self._post, score_threshold=checked_score_threshold(value))

    @property
    def iou_threshold(self) -> float:
        return self._post.iou_threshold

    @iou_threshold.setter
    def iou_threshold(self, value: float) -> None:
        self._post = replace(self._post, iou_threshold=checked_iou_threshold(value))

    def detect_batch(self, images: list[np.ndarray], timings: dict | None = None) -> list[Detections]:
        if not isinstance(images, (list, tuple)) or not images:
            raise ValueError(f"expected a non-empty list of images, got {type(images).__name__} "
                             f"of length {len(images) if hasattr(images, '__len__') else '?'}")
        images = [as_bgr_uint8(i) for i in images]
        post = self._post
        enc, logits = self._infer(images, timings)
        return self.postprocessor(enc, logits, post, [i.shape[:2] for i in images], self.labels)
