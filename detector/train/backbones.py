"""Where training starts: a MobileNetV2 body as a float torch module, cut into stages.

    base = load_base("auto")        # torchvision's cached ImageNet weights, else the embedded COCO SSD
    base.stages                     # nn.Sequential: stem, 17 inverted residual blocks, the 1280-channel conv
    base.features(x)                # (N, 3, S, S) float (rgb - mean) / std -> (N, 1280) pooled features

The quantised starts (a quantised MobileNetV2 ``.tflite`` classifier, the embedded COCO SSD's
backbone) are their integer-exact models with the rounding taken out: each conv's integer weights
times its requantisation scale is a float conv whose output, clamped to the layer's range, is the
quantised layer's value before rounding (activations stay in each layer's integer units). That is a
differentiable float network, so its last blocks can also be fine-tuned.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from detector.models.layers import Conv2dSame
from detector.models.quant_sim import QAdd, QConv

BASES = ("auto", "imagenet", "coco")


class FloatConv(nn.Module):
    """A ``QConv`` without its rounding: conv (weights and bias times the requantisation scale),
    clamped to the layer's integer range."""

    def __init__(self, q: QConv):
        super().__init__()
        c = q.conv
        self.conv = Conv2dSame(c.in_channels, c.out_channels, c.kernel_size[0], c.stride[0], c.groups, bias=True)
        scale = q.scale.reshape(-1)
        with torch.no_grad():
            self.conv.weight.copy_(c.weight * scale.view(-1, 1, 1, 1))
            self.conv.bias.copy_(c.bias * scale)
        self.lo, self.hi = q.lo, q.hi

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.clamp(self.conv(x), self.lo, self.hi)


class FloatAdd(nn.Module):
    """A ``QAdd`` in float: ``a * ra + b * rb`` clamped to the output's range."""

    def __init__(self, q: QAdd):
        super().__init__()
        self.ra, self.rb = q.a_mult / 2.0 ** q.shift, q.b_mult / 2.0 ** q.shift
        self.lo, self.hi = q.lo, q.hi

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return torch.clamp(a * self.ra + b * self.rb, self.lo, self.hi)


def unrounded(module: nn.Module) -> nn.Module:
    """``module`` with every QConv / QAdd inside swapped for its float twin (in place)."""
    for name, child in list(module.named_children()):
        if isinstance(child, QConv):
            setattr(module, name, FloatConv(child))
        elif isinstance(child, QAdd):
            setattr(module, name, FloatAdd(child))
        else:
            unrounded(child)
    return module


@dataclass
class Base:
    """A MobileNetV2 body: ``stages`` run in order give (N, 1280, s, s); ``scale``: divides the pooled
    features into about 0..1 (the quantised bodies' units). Input (N, 3, size, size) float32
    ``(rgb - mean) / std``, rgb in 0..255, the image stretched to size x size."""

    name: str
    source: str
    licence: str
    stages: nn.Sequential
    size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    scale: float = 1.0

    def features(self, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
        """Stages ``start:stop`` on ``x``; pooled (N, C) features when they run to the end."""
        for stage in self.stages[start:stop]:
            x = stage(x)
        return pooled(x, self.scale) if stop is None or stop >= len(self.stages) else x


def pooled(x: torch.Tensor, scale: float) -> torch.Tensor:
    return x.mean(dim=(2, 3)) / scale


def _stages(stem, blocks, head_conv) -> nn.Sequential:
    return nn.Sequential(stem, *blocks, head_conv)


def torchvision_cached() -> Path | None:
    """torchvision's MobileNetV2 ImageNet weights if Lookout's ``mobilenet-v2`` classifier cached them."""
    try:
        import torchvision.models as tvm
    except ImportError:
        return None
    url = tvm.MobileNet_V2_Weights.IMAGENET1K_V1.url
    path = Path(torch.hub.get_dir()) / "checkpoints" / url.rsplit("/", 1)[-1]
    return path if path.is_file() else None


def _torchvision(path: Path) -> Base:
    import torchvision.models as tvm
    model = tvm.mobilenet_v2(weights=None)
    model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    f = model.features
    return Base("imagenet", f"torchvision MobileNet_V2_Weights.IMAGENET1K_V1 ({path.name})", "BSD-3-Clause (torchvision)",
                _stages(f[0], list(f[1:-1]), f[-1]), 224, (123.675, 116.28, 103.53), (58.395, 57.12, 57.375))


def _tflite(path: Path) -> Base:
    from detector.convert.tflite_mobilenet import convert_tflite
    conv = convert_tflite(path.read_bytes())
    if conv.arch != "mobilenet_v2" or conv.width != 1.0:
        raise ValueError(f"--base {path}: expected a MobileNetV2 1.0 classifier, got {conv.arch} width {conv.width}")
    model = unrounded(conv.build())
    head = model.head_conv
    return Base("imagenet", f"{path.name} (quantised TFLite, rounding removed)", "see the file's source",
                _stages(model.stem, list(model.blocks), head), conv.resolution,
                (conv.input_zero_point,) * 3, (1.0, 1.0, 1.0), float(head.hi))


def _coco() -> Base:
    from detector.models.registry import REGISTRY
    from detector.runtime.weights import quant_model
    info = REGISTRY["ssd-mobilenetv2-coco"]
    model, _, pre, _ = quant_model(info.name)  # built from the embedded ONNX file's weights
    bb = unrounded(model.backbone)
    return Base("coco", f"the embedded {info.name} backbone (COCO detection, rounding removed)", info.licence,
                _stages(bb.stem, list(bb.blocks), bb.head_conv), 224, (-pre.offset,) * 3, (1.0, 1.0, 1.0),
                float(bb.head_conv.hi))


def load_base(choice: str = "auto") -> Base:
    """``auto``: torchvision's ImageNet weights when cached (``lookout --classifier mobilenet-v2`` once
    online), else the embedded COCO SSD's body; ``imagenet``: those weights (ValueError when not cached);
    ``coco``: the embedded body; a ``.tflite`` path: a quantised MobileNetV2 1.0 classifier."""
    if choice in ("auto", "imagenet"):
        cached = torchvision_cached()
        if cached is not None:
            return _torchvision(cached)
        if choice == "imagenet":
            raise ValueError("--base imagenet: torchvision's MobileNetV2 weights are not cached; run "
                             "lookout --classifier mobilenet-v2 once online, or pass --base PATH.tflite or coco")
        return _coco()
    if choice == "coco":
        return _coco()
    path = Path(choice)
    if path.suffix == ".tflite" and path.is_file():
        return _tflite(path)
    raise ValueError(f"--base {choice!r}: expected auto, imagenet, coco or an existing MobileNetV2 .tflite file")
