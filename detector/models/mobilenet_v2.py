"""MobileNetV2 body as the TF Object Detection API's SSD feature extractors build it.

Input: (N, 3, 300, 300) float, RGB scaled to [-1, 1]. Output: six feature maps, from fine to
coarse: layer_15's expansion output (19x19x576), layer_19 (10x10x1280), then four extra
layers (1x1 conv to half depth, then a 3x3 stride-2 conv) of 512, 256, 256, 128 channels
(5x5, 3x3, 2x2, 1x1). SSDLite's extra 3x3 convs are depthwise-separable (``ExtraLayer``), plain
SSD's are regular convolutions (``ConvExtraLayer``); everything else is shared.
"""
from __future__ import annotations

import torch
from torch import nn

from detector.models.layers import ConvBNAct, DepthwiseSeparable, InvertedResidual

# (expansion t, output channels c, repeats n, first stride s), as in the MobileNetV2 paper.
V2_SETTINGS = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
               (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def v2_depth(channels: float, width: float = 1.0, divisor: int = 8) -> int:
    """TF's ``make_divisible``: round to a multiple of 8, never dropping below 90%."""
    v = channels * width
    new = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * v else new


def inverted_residual_blocks(in_ch: int = 32, width: float = 1.0) -> nn.ModuleList:
    """The 17 inverted residual blocks (TF names: expanded_conv, expanded_conv_1 ... _16)."""
    blocks = nn.ModuleList()
    for t, c, n, s in V2_SETTINGS:
        out = v2_depth(c, width)
        for i in range(n):
            blocks.append(InvertedResidual(in_ch, out, s if i == 0 else 1, t))
            in_ch = out
    return blocks


def body_conv_layers(net: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, ConvBNAct) of a MobileNetV2 body (``stem``, ``blocks``, ``head_conv``) in graph order."""
    out = [("stem", net.stem)]
    for i, b in enumerate(net.blocks):
        if b.expand is not None:
            out.append((f"blocks.{i}.expand", b.expand))
        out += [(f"blocks.{i}.depthwise", b.depthwise), (f"blocks.{i}.project", b.project)]
    return out + [("head_conv", net.head_conv)]


class MobileNetV2(nn.Module):
    """MobileNetV2 classifier with TF 'SAME' padding, for TF/TFLite-trained weights.

    Input (N, 3, R, R) float; output logits (N, num_classes).
    """

    def __init__(self, width: float = 1.0, num_classes: int = 1001):
        super().__init__()
        from detector.models.mobilenet_v1 import ClassifierHead
        self.width = width
        stem = v2_depth(32, width)
        self.stem = ConvBNAct(3, stem, 3, stride=2)
        self.blocks = inverted_residual_blocks(stem, width)
        last = v2_depth(1280, max(width, 1.0))
        self.head_conv = ConvBNAct(self.blocks[-1].project[0].out_channels, last, 1)
        self.head = ClassifierHead(last, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stem(x)
        for b in self.blocks:
            x = b(x)
        return self.head(self.head_conv(x))

    def conv_layers(self) -> list[tuple[str, nn.Module]]:
        """Conv layers in the order TF/TFLite graphs run them, with their module names."""
        return body_conv_layers(self) + [("head.logits", self.head.logits)]


class ExtraLayer(nn.Sequential):
    """SSD extra feature layer: 1x1 conv to ``mid`` channels, then a stride-2 depthwise-separable conv."""

    def __init__(self, in_ch: int, mid: int, out_ch: int):
        super().__init__(ConvBNAct(in_ch, mid, 1), DepthwiseSeparable(mid, out_ch, stride=2))


class ConvExtraLayer(nn.Sequential):
    """SSD extra feature layer: 1x1 conv to ``mid`` channels, then a regular 3x3 stride-2 conv."""

    def __init__(self, in_ch: int, mid: int, out_ch: int):
        super().__init__(ConvBNAct(in_ch, mid, 1), ConvBNAct(mid, out_ch, 3, stride=2))


class SSDLiteMobileNetV2Backbone(nn.Module):
    """MobileNetV2 (depth multiplier 1.0) plus four extra layers; see module docstring.

    ``extra_layer`` builds each extra layer from (in, mid, out) channels: ``ExtraLayer`` (SSDLite,
    the default) or ``ConvExtraLayer`` (SSD).
    """

    out_channels = (576, 1280, 512, 256, 256, 128)
    # Feature tapped at the expansion of this block (TF's layer_15 is expanded_conv_13).
    TAP_BLOCK = 13

    def __init__(self, extra_layer=ExtraLayer):
        super().__init__()
        self.stem = ConvBNAct(3, 32, 3, stride=2)
        self.blocks = inverted_residual_blocks(32)
        self.head_conv = ConvBNAct(320, 1280, 1)
        self.extras = nn.ModuleList([extra_layer(1280, 256, 512), extra_layer(512, 128, 256),
                                     extra_layer(256, 128, 256), extra_layer(256, 64, 128)])

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        x = self.stem(x)
        for block in self.blocks[:self.TAP_BLOCK]:
            x = block(x)
        tap = self.blocks[self.TAP_BLOCK]
        x = tap.expand(x)
        features = [x]
        x = tap.project(tap.depthwise(x))  # stride 2: no residual
        for block in self.blocks[self.TAP_BLOCK + 1:]:
            x = block(x)
        x = self.head_conv(x)
        features.append(x)
        for extra in self.extras:
            x = extra(x)
            features.append(x)
        return features

    def conv_layers(self) -> list[tuple[str, nn.Module]]:
        """Conv layers (ConvBNAct) in the order TF/TFLite graphs run them, with their module names."""
        return body_conv_layers(self) + [(f"extras.{i}.{j}", m) for i, extra in enumerate(self.extras)
                                         for j, m in enumerate(extra)]
