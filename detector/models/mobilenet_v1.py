"""MobileNetV1 classifier: a 3x3 stride-2 conv, then 13 depthwise-separable blocks, global average
pooling and a 1x1 conv to the class logits.

Input (N, 3, R, R) float; output logits (N, num_classes). Widths are the paper's
(32, 64, 128x2, 256x2, 512x6, 1024x2) times the width multiplier, never below 8.
"""
from __future__ import annotations

import torch
from torch import nn

from detector.models.layers import ConvBNAct, DepthwiseSeparable

# (output channels, stride) of the 13 depthwise-separable blocks
V1_BLOCKS = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1), (512, 1),
             (512, 1), (512, 1), (1024, 2), (1024, 1)]


def v1_depth(channels: int, width: float) -> int:
    return max(int(channels * width), 8)


class ClassifierHead(nn.Module):
    """Global average pool, then a 1x1 conv with bias to the logits (TF's Conv2d_1c_1x1)."""

    def __init__(self, in_ch: int, num_classes: int):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.logits = nn.Conv2d(in_ch, num_classes, 1, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.logits(self.pool(x)).flatten(1)


class MobileNetV1(nn.Module):
    def __init__(self, width: float = 1.0, num_classes: int = 1001):
        super().__init__()
        self.width = width
        in_ch = v1_depth(32, width)
        self.stem = ConvBNAct(3, in_ch, 3, stride=2)
        blocks = []
        for c, s in V1_BLOCKS:
            out = v1_depth(c, width)
            blocks.append(DepthwiseSeparable(in_ch, out, s))
            in_ch = out
        self.blocks = nn.Sequential(*blocks)
        self.head = ClassifierHead(in_ch, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.blocks(self.stem(x)))

    def conv_layers(self) -> list[tuple[str, nn.Module]]:
        """Conv layers in the order TF/TFLite graphs run them, with their module names."""
        out = [("stem", self.stem)]
        for i, b in enumerate(self.blocks):
            out += [(f"blocks.{i}.0", b[0]), (f"blocks.{i}.1", b[1])]
        return out + [("head.logits", self.head.logits)]
