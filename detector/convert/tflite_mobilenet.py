"""Convert quantised TFLite MobileNet classifiers (V1 and V2; uint8 and int8) to Lookout's PyTorch models.

The flatbuffer is read by ``tflite_file`` (the small ``tflite`` package), never TensorFlow.
Weights stay integers (``q - zero_point``, per-tensor or per-channel), biases int32 (BatchNorm is
already folded into them); each layer keeps its quantisation (scale, zero point, clamp range) so
``models.quant_sim`` requantises exactly where the interpreter does: the outputs match it integer
for integer.

A file that is not a MobileNet fails with a ValueError naming the first op or tensor that doesn't fit.
"""
from __future__ import annotations

import numpy as np
import torch

from detector.models.mobilenet_v1 import MobileNetV1
from detector.models.mobilenet_v2 import MobileNetV2
from detector.models.quant_weights import ConvertedClassifier
from detector.convert.tflite_file import Op, Tensor, load_quantized_conv, qinfo, read_tflite, residual_add

SUPPORTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MEAN", "RESHAPE", "SOFTMAX",
             "QUANTIZE", "DEQUANTIZE", "SQUEEZE"}


def _family(ops: list[Op]) -> str:
    for op in ops:
        if op.kind not in SUPPORTED:
            raise ValueError(f"not a MobileNet classifier: {op.where()} is not an op MobileNets use")
    return "mobilenet_v2" if any(op.kind == "ADD" for op in ops) else "mobilenet_v1"


def convert_tflite(data: bytes) -> ConvertedClassifier:
    ops, inp, _ = read_tflite(data)
    arch = _family(ops)
    convs = [op for op in ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    if not convs or len(inp.shape) != 4 or inp.shape[1] != inp.shape[2] or inp.shape[3] != 3:
        raise ValueError(f"not a MobileNet classifier: expected a square RGB input and conv layers, got input "
                         f"{inp.shape} and {len(convs)} convolutions")
    in_scale, in_zp, _, _ = qinfo(inp, "input")
    first_scale, first_zp, _, _ = qinfo(convs[0].inputs[0], "first conv input")
    if not np.isclose(first_scale, in_scale, rtol=1e-6) or (first_zp - in_zp) not in (0.0, -128.0):
        raise ValueError(f"not supported: the input is requantised ({in_scale}, {in_zp}) -> "
                         f"({first_scale}, {first_zp}) before the first conv")
    stem_out = convs[0].inputs[1].shape[0]
    num_classes = convs[-1].inputs[1].shape[0]
    width = stem_out / 32.0
    model = (MobileNetV2 if arch == "mobilenet_v2" else MobileNetV1)(width, num_classes)
    layers = model.conv_layers()
    state: dict[str, torch.Tensor] = {}
    qparams: dict[str, dict] = {}
    li = 0
    last = ""
    block_in: dict[str, Tensor] = {}
    for op in ops:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            if li >= len(layers):
                raise ValueError(f"not a {arch}: {op.where()} is one convolution more than it has")
            name, module = layers[li]
            li += 1
            if name.startswith("blocks.") and name.count(".") == 2 and name.rsplit(".", 1)[0] not in block_in:
                block_in[name.rsplit(".", 1)[0]] = op.inputs[0]
            load_quantized_conv(op, name, module if name == "head.logits" else module[0], state, qparams)
            last = name
        elif op.kind == "ADD":
            block, q = residual_add(op, last, "blocks.", block_in, arch)
            qparams[block] = q
        elif op.kind in ("AVERAGE_POOL_2D", "MEAN"):
            si, _, _, _ = qinfo(op.inputs[0], "pool input")
            so, zo, lo, hi = qinfo(op.outputs[0], "pool output")
            qparams["head.pool"] = {"ratio": si / so, "zp": zo, "qmin": lo, "qmax": hi}
    if li != len(layers):
        raise ValueError(f"not a {arch} of width {width}: it has {li} convolutions, expected {len(layers)} "
                         f"(the first missing is {layers[li][0]})")
    if "head.pool" not in qparams:
        raise ValueError(f"not a {arch}: no average pooling before the logits")
    qparams["head.out_scale"] = {"value": qinfo(convs[-1].outputs[0], "logits")[0]}
    return ConvertedClassifier(arch, width, inp.shape[1], num_classes, state, qparams, in_zp)


