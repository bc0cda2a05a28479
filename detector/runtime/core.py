"""What every detector runtime shares: thresholds, input checks, postprocessing to ``Detections``.

A runtime (PyTorch in ``detector.Detector`` and ``quant_detector``, ONNX Runtime without torch in
``onnx_detector``) supplies ``_infer``: images -> raw (box_encodings (N, A, 4), class_logits
(N, A, C+1)) as float32 NumPy arrays, computed on the input the reference sees. The model's own
postprocessor turns them into ``Detections``: ``postprocess.GraphPostprocess`` (TF OD API graphs)
or ``tflite_postprocess.TFLiteSSDPostprocess`` (TFLite's post-processing op).
"""
from __future__ import annotations

import threading
from dataclasses import replace

import numpy as np

from detector.types.detections import Detections
from detector.ops.postprocess import PostprocessConfig
from detector.ops.preprocess import as_bgr_uint8


class DetectorCore:
    """``score_threshold`` and ``iou_threshold`` may be changed at any time, from any thread; each
    call reads them once, so a call never mixes old and new settings."""

    def __init__(self, labels: tuple[str, ...], postprocessor, input_size: tuple[int, int], name: str, mode: str,
                 score_threshold: float, iou_threshold: float):
        self.labels = tuple(labels)
        self.postprocessor = postprocessor
        self.input_size = tuple(input_size)
        self.name = name
        self.mode = mode
        self._post = PostprocessConfig()
        self.score_threshold = score_threshold
        self.iou_threshold = iou_threshold
        self._lock = threading.Lock()  # one forward pass at a time: the model is shared

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    @property
    def score_threshold(self) -> float:
        return self._post.score_threshold

    @score_threshold.setter
    def score_threshold(self, value: float) -> None:
        if not 0.0 <= float(value) <= 1.0:
            raise ValueError(f"expected a score threshold in [0, 1], got {value}")
        self._post = replace(self._post, score_threshold=float(value))

    @property
    def iou_threshold(self) -> float:
        return self._post.iou_threshold

    @iou_threshold.setter
    def iou_threshold(self, value: float) -> None:
        if not 0.0 < float(value) <= 1.0:
            raise ValueError(f"expected an NMS IoU threshold in (0, 1], got {value}")
        self._post = replace(self._post, iou_threshold=float(value))

    def detect(self, image: np.ndarray) -> Detections:
        """Detections on one HxWx3 uint8 BGR image (gray and BGRA accepted), xyxy in its pixels."""
        return self.detect_batch([image])[0]

    def detect_batch(self, images: list[np.ndarray], timings: dict | None = None) -> list[Detections]:
        """Detections for each image. ``timings``, if given, gets the preprocessing time in ms."""
        if not isinstance(images, (list, tuple)) or not images:
            raise ValueError(f"expected a non-empty list of images, got {type(images).__name__} "
                             f"of length {len(images) if hasattr(images, '__len__') else '?'}")
        images = [as_bgr_uint8(i) for i in images]
        post = self._post
        enc, logits = self._infer(images, timings)
        return self.postprocessor(enc, logits, post, [i.shape[:2] for i in images], self.labels)
