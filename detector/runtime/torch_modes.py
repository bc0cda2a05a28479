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
import warnings
from pathlib import Path

import torch
from torch import nn
from torch.nn.utils.fusion import fuse_conv_bn_eval

from detector.util.files import keep_cache_file


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


def export_onnx(model: nn.Module, example: torch.Tensor) -> bytes:
    """ONNX bytes of ``model`` (input "images", any batch size, ``example``'s spatial size), pads folded."""
    buf = io.BytesIO()
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (example,), buf, input_names=["images"], opset_version=17,
                          dynamic_axes={"images": {0: "batch"}}, dynamo=False)
    return fold_constant_pads(buf.getvalue())


def fold_constant_pads(model_bytes: bytes) -> bytes:
    """Fold each zero-valued constant Pad into the Conv it feeds (ONNX Conv takes asymmetric pads).

    torch exports TF SAME's asymmetric stride-2 padding as Pad + Conv, with the pads computed by
    shape arithmetic that ONNX Runtime's own PadFusion does not see through; the separate Pad passes
    cost ~2.8 ms a frame.
    """
    import tempfile

    import onnx
    import onnxruntime as ort
    from onnx import numpy_helper
    # ONNX Runtime's basic (portable) level folds the pads' shape arithmetic into constants first.
    with tempfile.TemporaryDirectory() as d:
        opts = ort.SessionOptions()
        opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
        opts.optimized_model_filepath = str(Path(d) / "basic.onnx")
        ort.InferenceSession(model_bytes, opts, providers=["CPUExecutionProvider"])
        m = onnx.load(opts.optimized_model_filepath)
    g = m.graph
    consts = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    readers: dict[str, list] = {}
    for n in g.node:
        for i in n.input:
            readers.setdefault(i, []).append(n)
    dropped = []
    for pad in g.node:
        if pad.op_type != "Pad" or len(pad.input) < 2 or pad.input[1] not in consts:
            continue
        mode = next((a.s for a in pad.attribute if a.name == "mode"), b"constant")
        value = pad.input[2] if len(pad.input) > 2 else ""
        users = readers.get(pad.output[0], [])
        if mode != b"constant" or (value and (value not in consts or consts[value].any())) or len(users) != 1 \
                or users[0].op_type != "Conv":
            continue
        pads = consts[pad.input[1]].reshape(-1).tolist()  # [n, c, h, w begins, n, c, h, w ends]
        conv = users[0]
        old = next((a for a in conv.attribute if a.name == "pads"), None)
        if len(pads) != 8 or pads[0] or pads[1] or pads[4] or pads[5] or (old is not None and any(old.ints)):
            continue
        if old is not None:
            conv.attribute.remove(old)
        conv.attribute.append(onnx.helper.make_attribute("pads", [pads[2], pads[3], pads[6], pads[7]]))
        conv.input[0] = pad.input[0]
        dropped.append(pad)
    for pad in dropped:
        g.node.remove(pad)
    used = {i for n in g.node for i in n.input}
    for init in [i for i in g.initializer if i.name not in used]:
        g.initializer.remove(init)
    return m.SerializeToString()


class OnnxRuntimeModel:
    """Runs an exported model in ONNX Runtime; called like the torch model (CPU tensors in and out)."""

    def __init__(self, model: nn.Module, example: torch.Tensor, threads: int | None = None,
                 cache: Path | None = None, spin: bool = True):
        """``cache``: where to keep the exported graph, so later starts skip the export; ``spin``:
        ``backend.ort_session``'s (False for lossless runs)."""
        from detector.runtime.backend import ort_session
        if importlib.util.find_spec("onnxruntime") is None:
            raise ValueError("the onnxruntime backend needs ONNX Runtime: pip install 'lookout[fast]'")
        data = cache.read_bytes() if cache is not None and cache.is_file() else None
        if data is None:
            data = export_onnx(model, example)
            if cache is not None:
                keep_cache_file(cache, data)
        self.session = ort_session(data, threads or torch.get_num_threads(), spin)
        self.outputs = [o.name for o in self.session.get_outputs()]

    def __call__(self, x: torch.Tensor):
        out = self.session.run(self.outputs, {"images": x.detach().cpu().float().numpy()})
        return tuple(torch.from_numpy(o) for o in out)
