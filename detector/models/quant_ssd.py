"""Integer-exact SSD-MobileNetV2 (quantised, TFLite), assembled from the same parts as SSDLite.

The float structure is ``SSD(backbone, anchors, head, box coder)`` with SSD's parts: MobileNetV2 with
regular-conv extra layers (``ConvExtraLayer``) and 1x1-conv predictors (``conv_predictor``). Every
conv is then swapped for its integer twin (``quant_sim.QConv``) and every residual add for
XNNPACK's fixed-point add, as the quantised classifiers are.

Input: (N, 3, S, S) float32 holding ``uint8 - input_zero_point`` (RGB). ``QuantizedSSD.forward``
returns the raw outputs as the interpreter has them before post-processing, as float32 tensors
holding uint8 values: box encodings (N, A, 4) ``[ty, tx, th, tw]`` (TF's 'Squeeze') and class
logits (N, A, C+1) with background at 0 (TF's 'concat'), each on its concatenation's grid.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

from detector.models.anchors import AnchorConfig, AnchorGenerator
from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.models.mobilenet_v2 import ConvExtraLayer, SSDLiteMobileNetV2Backbone
from detector.models.quant_sim import QAdd, QConv, QInvertedResidual
from detector.models.ssd import SSD, SSDHead, conv_predictor


def build_float_ssd(num_classes: int, anchors: AnchorConfig = AnchorConfig()) -> SSD:
    """SSD-MobileNetV2 (regular-conv extras and predictors) with ``num_classes`` incl. background."""
    backbone = SSDLiteMobileNetV2Backbone(extra_layer=ConvExtraLayer)
    head = SSDHead(backbone.out_channels, anchors.boxes_per_location(), num_classes, predictor=conv_predictor)
    return SSD(backbone, AnchorGenerator(anchors), head, FasterRcnnBoxCoder())


class QRequantize(nn.Module):
    """Requantise uint8 values from one grid (scale, zero point) to another, as XNNPACK's
    concatenation does when its inputs' grids differ: ``round(x * s_in/s_out)`` in float32, ties to
    even, clamped to 0..255. Input holds ``q - zp_in``; output holds uint8 values."""

    def __init__(self, ratio: float, out_zero_point: float):
        super().__init__()
        self.ratio = float(np.float32(ratio))
        self.zp = float(out_zero_point)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(torch.round(x * self.ratio) + self.zp, 0.0, 255.0)


class QuantizedSSD(nn.Module):
    """See the module docstring. ``box_requant`` / ``cls_requant``: one ``QRequantize`` per feature map."""

    def __init__(self, float_ssd: SSD, box_requant: list[QRequantize], cls_requant: list[QRequantize]):
        super().__init__()
        self.backbone = float_ssd.backbone
        self.head = float_ssd.head
        self.box_requant = nn.ModuleList(box_requant)
        self.cls_requant = nn.ModuleList(cls_requant)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        maps = self.head.predict(self.backbone(images))
        c = self.head.num_classes
        boxes = [r(SSDHead._flatten(b, 4)) for r, (b, _) in zip(self.box_requant, maps)]
        logits = [r(SSDHead._flatten(k, c)) for r, (_, k) in zip(self.cls_requant, maps)]
        return torch.cat(boxes, 1), torch.cat(logits, 1)


def _set(root: nn.Module, name: str, module: nn.Module) -> None:
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def quantised_convs(model: SSD) -> list[tuple[str, nn.Module]]:
    """(module name, float conv) of each conv of the float SSD that ``build_quantized_ssd`` makes a
    ``QConv``: the names ``qparams`` uses."""
    layers = [(f"backbone.{n}", m[0]) for n, m in model.backbone.conv_layers()]
    return layers + [(f"head.{k}.{i}", getattr(model.head, k)[i]) for i in range(len(model.head.box))
                     for k in ("box", "cls")]


def build_quantized_ssd(num_classes: int, qparams: dict) -> QuantizedSSD:
    """The float SSD's structure with every conv and residual add swapped for its integer twin;
    ``qparams`` as ``convert.tflite_ssd.ConvertedSSD`` describes it."""
    model = build_float_ssd(num_classes)
    for name, conv in quantised_convs(model):
        q = qparams[name]
        _set(model, name, QConv(conv, q["channels"], q["zp"], q["qmin"], q["qmax"]))
    blocks = model.backbone.blocks
    for i, block in enumerate(blocks):
        add = qparams.get(f"backbone.blocks.{i}")
        if block.use_residual != (add is not None):
            raise ValueError(f"expected a residual add in blocks.{i} exactly when its shapes match")
        q_add = QAdd(add["a"], add["b"], add["zp"], add["qmin"], add["qmax"]) if add else None
        blocks[i] = QInvertedResidual(block.expand, block.depthwise, block.project, q_add)
    out = qparams["outputs"]

    def requant(kind: str) -> list[QRequantize]:
        s_out, z_out = out[kind + "_out"]
        return [QRequantize(s / s_out, z_out) for s, _ in out[kind]]
    return QuantizedSSD(model, requant("box"), requant("cls")).eval()
