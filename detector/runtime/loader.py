"""The one way a detector is loaded, by the API (``Detector.load``), the command line, the window's
model menu and batch workers alike.

    load_detector("ssd-mobilenetv2-coco", device="cpu")
      -> onnx_detector.load_cached     the exported graph in ONNX Runtime, without importing torch,
                                       when that is what the backend choice gives and a bundle exists
      -> torch_detector.build_detector otherwise (imports torch): QuantizedDetector or Detector
"""
from __future__ import annotations

from pathlib import Path

from detector.models.registry import DEFAULT_MODEL
from detector.runtime.onnx_detector import load_cached


def load_detector(name_or_path: str | Path = DEFAULT_MODEL, device: str = "auto", score_threshold: float = 0.3,
                  iou_threshold: float = 0.6, half: bool = False, mode: str = "auto",
                  int8: bool | str | Path = False, throughput: bool = False):
    """A detector by registry name or path as the fastest exact runtime for ``device`` / ``mode``
    (``backend.select_mode``); every kind answers ``detect`` / ``detect_batch`` the same way.
    ``int8``: True (calibrated on the demo clip) or a video / image / folder to calibrate on gives a
    float SSDLite as ONNX Runtime int8 (``int8_detector``: opt-in, not exact, fidelity measured there).
    ``throughput``: for lossless runs, where decoding and encoding threads share the cores (the CPU
    runtime's workers never spin; ``backend.ort_session``).
    ValueError (one line) for a bad name, path, device, mode or threshold, or int8 where it can't be."""
    if int8 is not False and int8 is not None:
        from detector.runtime.int8_detector import int8_refusal, load_int8
        refusal = int8_refusal(name_or_path, device, half, mode)
        if refusal:
            raise ValueError(refusal)
        return load_int8(name_or_path, None if int8 is True else int8, score_threshold, iou_threshold, throughput)
    fast = load_cached(name_or_path, device, mode, half, score_threshold, iou_threshold, throughput)
    if fast is not None:
        return fast
    from detector.runtime.torch_detector import build_detector
    return build_detector(name_or_path, device, score_threshold, iou_threshold, half, mode, throughput)
