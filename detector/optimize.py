"""Inference-time rewrites of a model that keep its numbers: BatchNorm folding, TorchScript freezing,
ONNX Runtime. Each returns a callable with the model's own signature.

Modes (``Detector.load(..., mode=...)``):
  eager   the model as built (BatchNorm separate)
  fused   BatchNorm folded into the preceding conv (float32, same math up to rounding)
  jit     fused, then traced, frozen and ``optimize_for_inference`` (oneDNN conv + ReLU6 fusion on CPU)
  onnxruntime  fused, exported to ONNX, run by ONNX Runtime (optional extra: pip install onnxruntime)
"""
from __future__ import annotations

import copy
import importlib.util
import io
import os
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval


MODES = ("eager", "fused", "jit", "onnxruntime")


def auto_mode(device: torch.device) -> str:
    """The fastest mode that keeps parity here: ONNX Runtime on CPU when installed (about 2.5x
    TorchScript on this project's 2-core benchmark machine), else TorchScript. On CUDA TorchScript
    too: batch 1 is launch-bound there (H200, fp16: jit 4.7 ms, fused 6.1, eager 9.3)."""
    if device.type != "cpu":
        return "jit"
    try:
        import onnx  # noqa: F401  (torch's exporter needs it)
        import onnxruntime  # noqa: F401
        return "onnxruntime"
    except ImportError:
        return "jit"


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every BatchNorm that follows a conv in a Sequential (our ConvBNAct,
    torchvision's Conv2dNormActivation) folded into that conv (eval mode only)."""
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if not isinstance(module, nn.Sequential):
            continue
        for i in range(len(module) - 1):
            if isinstance(module[i], nn.Conv2d) and isinstance(module[i + 1], nn.BatchNorm2d):
                module[i] = fuse_conv_bn_eval(module[i], module[i + 1])
                module[i + 1] = nn.Identity()
    return model


def trace_frozen(model: nn.Module, example: torch.Tensor):
    """TorchScript trace + freeze + optimize_for_inference (fixed input shape)."""
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # trace warnings about python ints in TF padding: shapes are fixed
        traced = torch.jit.trace(model, example, check_trace=False)
        return torch.jit.optimize_for_inference(torch.jit.freeze(traced.eval()))


class OnnxRuntimeModel:
    """Runs an exported model in ONNX Runtime; called like the torch model (CPU tensors in and out)."""

    def __init__(self, model: nn.Module, example: torch.Tensor, threads: int | None = None,
                 cache: Path | None = None):
        """``cache``: where to keep the exported graph, so later starts skip the export."""
        from .onnx_detector import ort_session
        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("the onnxruntime backend needs ONNX Runtime: pip install 'lookout[fast]'")
        data = cache.read_bytes() if cache is not None and cache.is_file() else None
        if data is None:
            buf = io.BytesIO()
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(model, (example,), buf, input_names=["images"], opset_version=17,
                                  dynamic_axes={"images": {0: "batch"}}, dynamo=False)
            data = buf.getvalue()
            if cache is not None:
                try:
                    cache.parent.mkdir(parents=True, exist_ok=True)
                    tmp = cache.with_name(cache.name + ".part")
                    tmp.write_bytes(data)
                    os.replace(tmp, cache)
                except OSError:
                    pass  # a read-only cache only costs the export next time
        self.session = ort_session(data, threads or torch.get_num_threads())
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, x: torch.Tensor):
        out = self.session.run(self.outputs, {"images": x.detach().cpu().float().numpy()})
        return tuple(torch.from_numpy(o) for o in out)
