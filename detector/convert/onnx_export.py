"""A float torch model as ONNX bytes, with TF SAME's padding folded into the convs."""
from __future__ import annotations

import io
import warnings
from pathlib import Path

import torch
from torch import nn


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
