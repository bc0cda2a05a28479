"""SSD assembled from parts, the way torchvision's ``SSD(...)`` is: backbone, head, anchors, box coder.

``SSD.forward`` takes the preprocessed batch (N, 3, 300, 300) in [-1, 1] and returns the raw outputs,
exactly the tensors TF's graph calls 'Squeeze' and 'concat_1':
  box_encodings (N, A, 4) ``[ty, tx, th, tw]`` and class_logits (N, A, C+1), background at index 0.
``detector.ops.postprocess`` turns them into ``Detections`` (with the box coder and anchors from here).
"""
from __future__ import annotations

import torch
from torch import nn

from detector.models.anchors import AnchorGenerator
from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.models.layers import Conv2dSame, depthwise


class SeparablePredictor(nn.Sequential):
    """SSDLite predictor: 3x3 depthwise + BN + ReLU6, then a 1x1 conv with bias (no activation)."""

    def __init__(self, in_ch: int, out_ch: int):
        super().__init__(depthwise(in_ch), Conv2dSame(in_ch, out_ch, 1, bias=True))


def conv_predictor(in_ch: int, out_ch: int) -> nn.Module:
    """SSD predictor: one 1x1 conv with bias (no activation)."""
    return Conv2dSame(in_ch, out_ch, 1, bias=True)


class SSDHead(nn.Module):
    """Box and class predictors for each feature map; outputs flattened in TF's (y, x, box) order.

    ``predictor(in_ch, out_ch)`` builds each predictor: ``SeparablePredictor`` (SSDLite, the
    default) or ``conv_predictor`` (SSD).
    """

    def __init__(self, in_channels: tuple[int, ...], boxes_per_location: list[int], num_classes: int,
                 predictor=SeparablePredictor):
        super().__init__()
        self.num_classes = num_classes  # including background
        self.box = nn.ModuleList(predictor(c, n * 4) for c, n in zip(in_channels, boxes_per_location))
        self.cls = nn.ModuleList(predictor(c, n * num_classes) for c, n in zip(in_channels, boxes_per_location))

    @staticmethod
    def _flatten(x: torch.Tensor, last: int) -> torch.Tensor:
        # (N, B*last, H, W) -> (N, H*W*B, last): TF predicts in NHWC, so box index is fastest.
        return x.permute(0, 2, 3, 1).reshape(x.shape[0], -1, last)

    def predict(self, features: list[torch.Tensor]) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """Per feature map, the (box, class) predictor outputs as NCHW maps, not yet flattened."""
        return [(b(f), c(f)) for b, c, f in zip(self.box, self.cls, features)]

    def forward(self, features: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        boxes = [self._flatten(p(f), 4) for p, f in zip(self.box, features)]
        logits = [self._flatten(p(f), self.num_classes) for p, f in zip(self.cls, features)]
        return torch.cat(boxes, 1), torch.cat(logits, 1)


class SSD(nn.Module):
    def __init__(self, backbone: nn.Module, anchor_generator: AnchorGenerator, head: SSDHead,
                 box_coder: FasterRcnnBoxCoder):
        super().__init__()
        self.backbone = backbone
        self.head = head
        self.anchor_generator = anchor_generator
        self.box_coder = box_coder

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.head(self.backbone(images))

    @torch.no_grad()
    def grid_sizes(self, input_hw: tuple[int, int]) -> list[tuple[int, int]]:
        """Feature-map sizes (h, w) for an input size, from one pass of the backbone on zeros."""
        p = next(self.parameters())
        features = self.backbone(torch.zeros(1, 3, *input_hw, dtype=p.dtype, device=p.device))
        return [tuple(f.shape[-2:]) for f in features]

    def anchors(self, grid_sizes: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
        return self.anchor_generator(grid_sizes, device)
