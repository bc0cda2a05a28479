"""SSD anchors as the TF Object Detection API's ``MultipleGridAnchorGenerator`` lays them out.

Anchors are (A, 4) float32 ``[ymin, xmin, ymax, xmax]`` in normalised image coordinates (0..1).
Order: layer by layer, then grid row (y), grid column (x), then box within the cell; this matches
how the predictor heads flatten their outputs.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch


@dataclass(frozen=True)
class AnchorConfig:
    """``ssd_anchor_generator`` settings of the TF OD API's SSDLite config."""

    num_layers: int = 6
    min_scale: float = 0.2
    max_scale: float = 0.95
    aspect_ratios: tuple[float, ...] = (1.0, 2.0, 0.5, 3.0, 0.3333)
    interpolated_scale_aspect_ratio: float = 1.0
    reduce_boxes_in_lowest_layer: bool = True

    def box_specs(self) -> list[list[tuple[float, float]]]:
        """Per layer, the (scale, aspect ratio) of each box in a grid cell."""
        n = self.num_layers
        scales = [self.min_scale + (self.max_scale - self.min_scale) * i / (n - 1) for i in range(n)] + [1.0]
        specs = []
        for i in range(n):
            if i == 0 and self.reduce_boxes_in_lowest_layer:
                specs.append([(0.1, 1.0), (scales[0], 2.0), (scales[0], 0.5)])
                continue
            layer = [(scales[i], ar) for ar in self.aspect_ratios]
            if self.interpolated_scale_aspect_ratio > 0:
                layer.append((math.sqrt(scales[i] * scales[i + 1]), self.interpolated_scale_aspect_ratio))
            specs.append(layer)
        return specs

    def boxes_per_location(self) -> list[int]:
        return [len(s) for s in self.box_specs()]


class AnchorGenerator:
    """Makes the anchors for given feature-map sizes; cached per size since they never change."""

    def __init__(self, config: AnchorConfig = AnchorConfig()):
        self.config = config
        self._cache: dict[tuple, torch.Tensor] = {}

    def __call__(self, grid_sizes: list[tuple[int, int]], device: torch.device) -> torch.Tensor:
        key = (tuple(grid_sizes), str(device))
        if key not in self._cache:
            self._cache[key] = torch.from_numpy(self.numpy(grid_sizes)).to(device)
        return self._cache[key]

    def numpy(self, grid_sizes: list[tuple[int, int]]) -> np.ndarray:
        specs = self.config.box_specs()
        if len(grid_sizes) != len(specs):
            raise ValueError(f"expected {len(specs)} feature maps for the anchor generator, got {len(grid_sizes)}")
        f32 = np.float32
        out = []
        for (gh, gw), layer in zip(grid_sizes, specs):
            scales = np.array([s for s, _ in layer], f32)
            ratio_sqrt = np.sqrt(np.array([a for _, a in layer], f32))
            heights, widths = scales / ratio_sqrt, scales * ratio_sqrt
            stride_y, stride_x = f32(1.0) / f32(gh), f32(1.0) / f32(gw)
            yc = np.arange(gh, dtype=f32) * stride_y + f32(0.5) * stride_y
            xc = np.arange(gw, dtype=f32) * stride_x + f32(0.5) * stride_x
            # (gh, gw, boxes) grids, box index fastest: TF's meshgrid + reshape order.
            y = np.broadcast_to(yc[:, None, None], (gh, gw, len(layer)))
            x = np.broadcast_to(xc[None, :, None], (gh, gw, len(layer)))
            h = np.broadcast_to(heights, (gh, gw, len(layer)))
            w = np.broadcast_to(widths, (gh, gw, len(layer)))
            boxes = np.stack([y - f32(0.5) * h, x - f32(0.5) * w, y + f32(0.5) * h, x + f32(0.5) * w], -1)
            out.append(boxes.reshape(-1, 4))
        return np.concatenate(out).astype(f32)
