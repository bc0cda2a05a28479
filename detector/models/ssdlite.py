"""SSDLite-MobileNetV2 assembly and Lookout's detector checkpoint format.

A checkpoint is a plain dict saved with ``torch.save`` and read back with ``weights_only=True``
(no pickled code): ``{"format", "arch", "num_classes", "labels", "preprocessing", "state_dict"}``,
and ``"folded": True`` where BatchNorm is already folded into the convs (weights read from a
Lookout ONNX file, ``models.onnx_weights``). The weights carry their own label list and input
preprocessing.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from detector.models.anchors import AnchorConfig, AnchorGenerator
from detector.ops.box_coder import FasterRcnnBoxCoder
from detector.models.checkpoint import load_strict, read_checkpoint
from detector.models.fold import fold_batchnorm
from detector.models.mobilenet_v2 import SSDLiteMobileNetV2Backbone
from detector.ops.postprocess import GraphPostprocess
from detector.ops.preprocess import Preprocessing
from detector.models.ssd import SSD, SSDHead

FORMAT = "lookout-detector/1"
ARCH = "ssdlite_mobilenet_v2"


def build_ssdlite(num_classes: int, anchors: AnchorConfig = AnchorConfig()) -> SSD:
    """An SSDLite-MobileNetV2 with ``num_classes`` outputs per box (background included)."""
    backbone = SSDLiteMobileNetV2Backbone()
    head = SSDHead(backbone.out_channels, anchors.boxes_per_location(), num_classes)
    return SSD(backbone, AnchorGenerator(anchors), head, FasterRcnnBoxCoder())


@dataclass(frozen=True)
class DetectorWeights:
    """Everything needed to rebuild a detector: tensors, labels (index = class id), preprocessing.
    ``folded``: the tensors are the BatchNorm-folded model's (each conv with its bias, no BatchNorm),
    as a Lookout ONNX file holds them."""

    state_dict: dict[str, torch.Tensor]
    num_classes: int
    labels: tuple[str, ...]
    preprocessing: Preprocessing = Preprocessing()
    arch: str = ARCH
    folded: bool = False

    def save(self, path: str | Path) -> None:
        path = Path(path)
        tmp = path.with_name(path.name + ".part")
        torch.save({"format": FORMAT, "arch": self.arch, "num_classes": self.num_classes,
                    "labels": list(self.labels), "preprocessing": self.preprocessing.to_dict(),
                    "state_dict": self.state_dict, **({"folded": True} if self.folded else {})}, tmp)
        tmp.replace(path)  # never leave a half-written checkpoint under the real name

    @classmethod
    def load(cls, path: str | Path) -> "DetectorWeights":
        ckpt = read_checkpoint(path, "detector weights", FORMAT)
        if ckpt.get("arch") != ARCH:
            raise ValueError(f"expected architecture {ARCH!r} in {str(path)!r}, got {ckpt.get('arch')!r}")
        labels = tuple(ckpt["labels"])
        if len(labels) != ckpt["num_classes"]:
            raise ValueError(f"labels in {str(path)!r} list {len(labels)} names, expected "
                             f"{ckpt['num_classes']} (one per class, background included)")
        return cls(ckpt["state_dict"], int(ckpt["num_classes"]), labels,
                   Preprocessing.from_dict(ckpt["preprocessing"]), ckpt["arch"], bool(ckpt.get("folded", False)))

    def digest(self) -> str:
        """A short fingerprint of the tensors, to key caches of derived forms (exported graphs)."""
        import hashlib
        h = hashlib.sha256(f"{self.arch}/{self.num_classes}/{torch.__version__}{'/folded' * self.folded}".encode())
        for k in sorted(self.state_dict):
            h.update(k.encode())
            h.update(self.state_dict[k].detach().cpu().contiguous().numpy().tobytes())
        return h.hexdigest()[:16]

    def build(self) -> SSD:
        model = build_ssdlite(self.num_classes)
        return load_strict(fold_batchnorm(model) if self.folded else model, self.state_dict,
                           f"detector weights do not fit SSDLite-MobileNetV2 with {self.num_classes} classes")


def graph_postprocessor(model: SSD, input_size: tuple[int, int], device: torch.device | str = "cpu") -> GraphPostprocess:
    """The TF OD API graph's postprocessing for ``model`` at ``input_size`` (H, W): its anchors
    ((A, 4) float32, computed on ``device`` as the model runs there) and box coder."""
    anchors = model.anchors(model.grid_sizes(tuple(input_size)), torch.device(device)).cpu().numpy()
    return GraphPostprocess(anchors, model.box_coder)
