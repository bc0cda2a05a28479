"""Quantised TFLite SSD detectors in PyTorch (``--backend eager``), integer-exact with the interpreter,
on CPU or CUDA. Their ONNX Runtime mode (the CPU default) is an ``onnx.detector.OnnxDetector`` on the
exported integer graph, which the loader builds.
"""
from __future__ import annotations


import numpy as np
import torch

from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.runtime.base import DetectorCore
from detector.runtime.options import LoadOptions, select_mode
from detector.runtime.torch.precision import exact_fp32


class QuantizedDetector(DetectorCore):
    """A quantised SSD (``quant_ssd.QuantizedSSD``, from ``runtime.weights.quant_model``) behind the
    detector interface, in eager mode; ``preprocessing`` gives its square input size."""

    def __init__(self, model: torch.nn.Module, labels: tuple[str, ...], preprocessing: Preprocessing,
                 postprocessor: TFLiteSSDPostprocess, device: torch.device | str, name: str = "",
                 options: LoadOptions | None = None):
        options = options or LoadOptions(mode="eager")
        self.torch_device = torch.device(device)
        mode = select_mode(self.torch_device.type, options.mode, "quant-detector")
        if mode != "eager":
            raise ValueError(f"QuantizedDetector runs eager; its {mode} mode is an OnnxDetector (runtime.loader)")
        self.preprocessing = preprocessing
        self.resize = self.preprocessing.resizer()
        self.model = model.to(self.torch_device)
        super().__init__(labels, postprocessor, tuple(preprocessing.size), name, mode,
                         str(self.torch_device), options.score_threshold, options.iou_threshold)

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        x = self._resized(images, timings)
        # TF32 on CUDA would break the integer arithmetic
        with self._lock, torch.inference_mode(), exact_fp32(self.torch_device, half=False):
            box, cls = self.model(torch.from_numpy(x).to(self.torch_device))
        return box.cpu().numpy(), cls.cpu().numpy()
