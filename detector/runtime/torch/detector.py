"""SSDLite-MobileNetV2 (the float family) in PyTorch, in any of its modes, on CPU or CUDA.

    det = Detector(weights.build(), weights.labels, "cpu", weights.preprocessing.size)
    dets = det.detect(bgr)   # Detections, xyxy in pixels of ``bgr``

The loader (``runtime.loader``) builds it for ``Detector.load``; ``raw`` gives the network's outputs
as torch tensors, for parity checks against TF. The class keeps the name it had before the interface
(``runtime.base.Detector``) existed: the command line's tests and users' logs know it by it.
"""
from __future__ import annotations

import time

import numpy as np
import torch

from pathlib import Path

from detector.models.bundle import detector_card, read_bundle
from detector.models.fold import fold_batchnorm
from detector.models.ssd import SSD
from detector.models.ssdlite import graph_postprocessor
from detector.ops.preprocess import Preprocessing, TFBilinearResize, as_bgr_uint8
from detector.runtime.base import DetectorCore
from detector.runtime.options import LoadOptions, select_mode
from detector.runtime.torch.modes import OnnxRuntimeModel, trace_frozen
from detector.runtime.torch.precision import exact_fp32


class Detector(DetectorCore):
    """SSDLite-MobileNetV2 in PyTorch on CPU or CUDA (fp32 unless ``options.half`` on CUDA).

    ``device``: a torch device or its name ("cpu", "cuda[:N]"), already resolved; ``options``: its
    mode, half, thresholds and throughput (default: eager, the load defaults otherwise).
    ``bundle``: the file where the ONNX Runtime mode finds its exported graph or keeps it, with its
    card, for a torch-free start next time (``models.bundle``); None: exported each time.
    Postprocessing (decode, NMS, Detections) is shared with every runtime (``DetectorCore``).
    """

    def __init__(self, model: SSD, labels: tuple[str, ...], device: torch.device | str,
                 input_size: tuple[int, int], name: str = "", options: LoadOptions | None = None,
                 preprocessing: Preprocessing = Preprocessing(), bundle: Path | None = None):
        options = options or LoadOptions(mode="eager")
        self.torch_device = torch.device(device)
        mode = select_mode(self.torch_device.type, options.mode, "detector")
        self._spin = not options.throughput  # ONNX Runtime mode: see onnx.optimise.ort_session
        self.model = model.to(self.torch_device).eval()
        self.half = options.half and self.torch_device.type == "cuda"
        if self.half:
            self.model.half()
        self.preprocessing = preprocessing
        self.resize = TFBilinearResize(tuple(input_size))  # float SSDLite graphs: TF's own resize
        post = graph_postprocessor(self.model, input_size, self.torch_device)
        self.anchors, self.box_coder = post.anchors, post.box_coder
        super().__init__(labels, post, input_size, name, mode, str(self.torch_device),
                         options.score_threshold, options.iou_threshold)
        self.net = self._build_net(mode, bundle)

    def _build_net(self, mode: str, bundle: Path | None):
        """The forward callable for ``mode`` (see ``torch.modes``); ``bundle``: as the class's."""
        if mode == "eager":
            return self.model
        fused = fold_batchnorm(self.model)
        if mode == "fused":
            return fused
        example = torch.zeros(1, 3, *self.input_size, device=self.torch_device,
                              dtype=torch.half if self.half else torch.float32)
        if mode == "jit":
            return trace_frozen(fused, example)
        if bundle is None:
            return OnnxRuntimeModel(fused, example, spin=self._spin)
        if read_bundle(bundle) is not None:  # a valid exported graph already exists: no export
            return OnnxRuntimeModel(fused, example, cache=bundle, spin=self._spin)
        # What a later start needs to run this graph without torch (see onnx.detector).
        card = detector_card(self.name, self.labels, self.preprocessing, self.postprocessor)
        return OnnxRuntimeModel(fused, example, cache=bundle, spin=self._spin, card=card)

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """BGR uint8 images -> (N, 3, H, W) RGB, ``x * scale + offset`` (the weights' preprocessing: [-1, 1]
        for the TF models) on the model's device, as TF's graph makes it."""
        pre = self.preprocessing
        if self.torch_device.type == "cpu":
            planes = [self.resize.numpy(img, pre.scale, pre.offset) for img in images]
            return torch.from_numpy(planes[0][None] if len(planes) == 1 else np.stack(planes))
        batch = []
        for img in images:
            t = torch.from_numpy(np.ascontiguousarray(img)).to(self.torch_device, non_blocking=True)
            batch.append(self.resize(t).flip(0))  # BGR -> RGB on the small resized image
        x = torch.stack(batch)
        x = x * pre.scale + pre.offset
        return x.half() if self.half else x

    @torch.inference_mode()
    def raw(self, images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """This runtime's own: the network's outputs on the input TF sees, as float32 torch tensors on
        the model's device: box_encodings (N, A, 4) ``[ty, tx, th, tw]`` and class_logits (N, A, C+1)."""
        enc, logits = self._forward(self.preprocess([as_bgr_uint8(i) for i in images]))
        return enc.float(), logits.float()

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self._lock, exact_fp32(self.torch_device, self.half):
            return self.net(x)

    @torch.inference_mode()
    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        x = self.preprocess(images)
        if timings is not None:
            timings["preprocess"] = (time.perf_counter() - t0) * 1000
        enc, logits = self._forward(x)
        return enc.float().cpu().numpy(), logits.float().cpu().numpy()
