"""MobileNet building blocks with TensorFlow 'SAME' padding, shared by the detector and classifier.

All tensors are NCHW float. TF's 'SAME' pads ``max((ceil(in/s)-1)*s + k - in, 0)`` pixels in total and
puts the odd pixel at the bottom/right; PyTorch's ``padding=k//2`` is symmetric, which shifts every
stride-2 output by half a pixel and breaks parity with TF-trained weights. So the padding here is
computed from the input size at run time.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def tf_same_pad(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """(before, after) padding TF 'SAME' uses along one axis of length ``size``."""
    out = -(-size // stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class Conv2dSame(nn.Conv2d):
    """nn.Conv2d with TensorFlow 'SAME' padding (asymmetric on stride 2)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int, stride: int = 1, groups: int = 1,
                 bias: bool = False):
        super().__init__(in_ch, out_ch, kernel, stride=stride, padding=0, groups=groups, bias=bias)
        # 1x1 and stride-1 odd kernels pad symmetrically: let cuDNN/oneDNN fuse it.
        self._static = kernel == 1 or stride == 1
        if self._static:
            self.padding = (kernel // 2, kernel // 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._static:
            k, s = self.kernel_size[0], self.stride[0]
            # int(): a traced or exported graph (fixed input size) gets constant pads, which ONNX
            # Runtime folds into the conv, instead of shape arithmetic at run time (docs/speed.md).
            top, bottom = tf_same_pad(int(x.shape[-2]), k, s)
            left, right = tf_same_pad(int(x.shape[-1]), k, s)
            if top != bottom or left != right:
                x = F.pad(x, (left, right, top, bottom))
            else:
                return F.conv2d(x, self.weight, self.bias, self.stride, (top, left), 1, self.groups)
        return super().forward(x)


class ConvBNAct(nn.Sequential):
    """Conv (TF SAME) -> BatchNorm(eps=1e-3, TF's default) -> ReLU6 (or no activation)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 1, stride: int = 1, groups: int = 1,
                 act: bool = True):
        layers: list[nn.Module] = [Conv2dSame(in_ch, out_ch, kernel, stride, groups),
                                   nn.BatchNorm2d(out_ch, eps=1e-3)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


def depthwise(ch: int, stride: int = 1) -> ConvBNAct:
    """3x3 depthwise conv + BN + ReLU6: one filter per channel, no mixing."""
    return ConvBNAct(ch, ch, 3, stride, groups=ch)


class DepthwiseSeparable(nn.Sequential):
    """MobileNetV1 block: 3x3 depthwise + BN + ReLU6, then 1x1 pointwise + BN + ReLU6."""

    def __init__(self, in_ch: int, out_ch: int, stride: int = 1):
        super().__init__(depthwise(in_ch, stride), ConvBNAct(in_ch, out_ch, 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6 -> 3x3 depthwise + ReLU6 -> 1x1 linear projection.

    The residual is added when stride is 1 and channels match. ``expand`` is None for expansion
    factor 1 (TF's first block has no expansion conv).
    """

    def __init__(self, in_ch: int, out_ch: int, stride: int, expand_ratio: int):
        super().__init__()
        hidden = in_ch * expand_ratio
        self.expand = ConvBNAct(in_ch, hidden, 1) if expand_ratio != 1 else None
        self.depthwise = depthwise(hidden, stride)
        self.project = ConvBNAct(hidden, out_ch, 1, act=False)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.expand(x) if self.expand is not None else x
        y = self.project(self.depthwise(y))
        return x + y if self.use_residual else y
