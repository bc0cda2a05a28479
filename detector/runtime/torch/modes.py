"""Inference-time forms of a torch model that keep its numbers: TorchScript freezing, ONNX Runtime.
Each is a callable with the model's own signature.

Modes (``Detector.load(..., mode=...)``):
  eager   the model as built (BatchNorm separate)
  fused   BatchNorm folded into the preceding conv (``models.fold``; float32, same math up to rounding)
  jit     fused, then traced, frozen and ``optimize_for_inference`` (oneDNN conv + ReLU6 fusion on CPU)
  onnxruntime  fused, exported to ONNX, run by ONNX Runtime (optional extra: pip install onnxruntime)
"""
from __future__ import annotations

import importlib.util
import warnings
from pathlib import Path

import torch
from torch import nn

from detector.convert.onnx_export import export_onnx
from detector.runtime.onnx.optimise import ort_session
from detector.models.card import with_card
from detector.util.files import keep_cache_file


def trace_frozen(model: nn.Module, example: torch.Tensor):
    """TorchScript trace + freeze + optimize_for_inference (fixed input shape)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace warnings about python ints in TF padding: shapes are fixed
        traced = torch.jit.trace(model, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


class OnnxRuntimeModel:
    """Runs an exported model in ONNX Runtime; called like the torch model (CPU tensors in and out)."""

    def __init__(self, model: nn.Module, example: torch.Tensor, threads: int | None = None,
                 cache: Path | None = None, spin: bool = True, card: dict | None = None):
        """``cache``: where to keep the exported graph, so later starts skip the export; ``card``:
        given, the graph is exported (whatever ``cache`` holds) and kept with this card
        (``models.card``), a file later starts run without torch; ``spin``:
        ``onnx.optimise.ort_session``'s (False for lossless runs)."""
        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("the onnxruntime backend needs ONNX Runtime: ONNX Runtime is one of Lookout's own dependencies: pip install onnxruntime")
        data = cache.read_bytes() if cache is not None and card is None and cache.is_file() else None
        if data is None:
            data = export_onnx(model, example)
            if cache is not None:
                keep_cache_file(cache, with_card(data, card) if card is not None else data)
        self.session = ort_session(data, threads or torch.get_num_threads(), spin)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, x: torch.Tensor):
        out = self.session.run(self.outputs, {"images": x.detach().cpu().float().numpy()})
        return tuple(torch.from_numpy(o) for o in out)
