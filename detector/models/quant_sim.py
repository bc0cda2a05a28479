"""Integer-exact execution of quantised MobileNets, the way TFLite's CPU kernels (XNNPACK) compute.

Activations travel as float32 tensors holding integers ``q - zero_point``; convolutions use integer
weights ``q_w - zero_point_w`` and int32 biases, so each accumulator is an exact integer (float32
holds integers exactly below 2**24, far above what these layers reach). Each layer then requantises
``round_half_even(clamp(acc * scale))`` with ``scale = s_in * s_w / s_out`` in float32, as XNNPACK's
fp32 requantisation does. The result matches the interpreter's uint8/int8 tensors value for value
instead of drifting by a rounding here and there, as a float model with fake quantisation does.

Structure is the float model's (MobileNetV1/V2 from ``layers``): ``build_quantized`` swaps each
ConvBNAct for a ``QConv`` and each residual block's add for a requantised add.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from detector.models.layers import Conv2dSame


class QConv(nn.Module):
    """Integer conv (TF SAME padding) + int32 bias, requantised to the output's grid.

    Input and output hold ``q - zero_point``. ``scale`` is (1, C, 1, 1) float32 (C = 1: per tensor).
    """

    def __init__(self, like: nn.Conv2d, channels: int, out_zero_point: float, qmin: float, qmax: float):
        super().__init__()
        self.conv = Conv2dSame(like.in_channels, like.out_channels, like.kernel_size[0], like.stride[0],
                               like.groups, bias=True)
        self.register_buffer("scale", torch.ones(1, channels, 1, 1))
        self.lo, self.hi = float(qmin - out_zero_point), float(qmax - out_zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        acc = self.conv(x)
        return torch.round(torch.clamp(acc * self.scale, self.lo, self.hi))


class QAdd(nn.Module):
    """Residual add of two quantised tensors, with XNNPACK's fixed-point arithmetic.

    The scale ratios ``s_a/s_out`` and ``s_b/s_out`` become integer multipliers with a shared
    power-of-two shift (about 20 bits of precision); the sum is rounded half up by an arithmetic
    shift. Computed in float64, where these integers are exact.
    """

    def __init__(self, a_ratio: float, b_ratio: float, out_zero_point: float, qmin: float, qmax: float):
        super().__init__()
        a, b = np.float32(a_ratio), np.float32(b_ratio)
        exponent = int(np.frexp(max(a, b))[1]) - 1   # floor(log2(max ratio))
        self.shift = 20 - exponent
        self.a_mult = float(np.rint(np.ldexp(a, self.shift)))
        self.b_mult = float(np.rint(np.ldexp(b, self.shift)))
        self.lo, self.hi = float(qmin - out_zero_point), float(qmax - out_zero_point)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        acc = a.double() * self.a_mult + b.double() * self.b_mult + 2.0 ** (self.shift - 1)
        out = torch.floor(acc / 2.0 ** self.shift)
        return torch.clamp(out, self.lo, self.hi).to(a.dtype)


class QInvertedResidual(nn.Module):
    def __init__(self, expand, depthwise, project, add: QAdd | None):
        super().__init__()
        self.expand, self.depthwise, self.project, self.add = expand, depthwise, project, add

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return self.add(x, y) if self.add is not None else y


class QAvgPool(nn.Module):
    """Global average pool with requantisation: ``round(sum * s_in / (s_out * count))``."""

    def __init__(self, ratio: float, out_zero_point: float, qmin: float, qmax: float):
        super().__init__()
        self.ratio = float(np.float32(ratio))
        self.lo, self.hi = float(qmin - out_zero_point), float(qmax - out_zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[-1] * x.shape[-2]
        acc = x.sum(dim=(2, 3), keepdim=True)
        return torch.round(torch.clamp(acc * np.float32(self.ratio / n), self.lo, self.hi))


class QHead(nn.Module):
    """Pool -> logits conv -> real-valued logits (dequantised with the output scale)."""

    def __init__(self, pool: QAvgPool, logits: QConv, out_scale: float):
        super().__init__()
        self.pool, self.logits, self.out_scale = pool, logits, float(out_scale)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (self.logits(self.pool(x)) * self.out_scale).flatten(1)


def layers_in_order(model: nn.Module, size: int) -> tuple[list, torch.Tensor]:
    """(module, input tensors, output tensor) of every ``QConv``, ``QAdd`` and ``QAvgPool`` in the
    order one forward pass of a zero (1, 3, size, size) input runs them, and that input: the order an
    exported graph (``convert.qlinear_export``) lists them in."""
    events = []
    hooks = [m.register_forward_hook(lambda mod, args, out: events.append((mod, args, out)))
             for m in model.modules() if isinstance(m, (QConv, QAdd, QAvgPool))]
    x = torch.zeros(1, 3, size, size)
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return events, x


def _set(model: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(model.get_submodule(parent) if parent else model, leaf, module)


def build_quantized(arch: str, width: float, num_classes: int, qparams: dict) -> nn.Module:
    """The float MobileNet's structure with every layer swapped for its integer-exact twin."""
    from detector.models.mobilenet_v1 import MobileNetV1
    from detector.models.mobilenet_v2 import MobileNetV2
    model = (MobileNetV2 if arch == "mobilenet_v2" else MobileNetV1)(width, num_classes)
    for name, module in model.conv_layers():
        q = qparams[name]
        conv = module if isinstance(module, nn.Conv2d) else module[0]
        _set(model, name, QConv(conv, q["channels"], q["zp"], q["qmin"], q["qmax"]))
    if arch == "mobilenet_v2":
        for i, block in enumerate(model.blocks):
            add = qparams.get(f"blocks.{i}")
            if block.use_residual != (add is not None):
                raise ValueError(f"expected a residual add in blocks.{i} exactly when its shapes match")
            q_add = QAdd(add["a"], add["b"], add["zp"], add["qmin"], add["qmax"]) if add else None
            model.blocks[i] = QInvertedResidual(block.expand, block.depthwise, block.project, q_add)
    p = qparams["head.pool"]
    model.head = QHead(QAvgPool(p["ratio"], p["zp"], p["qmin"], p["qmax"]), model.head.logits,
                       qparams["head.out_scale"]["value"])
    return model
