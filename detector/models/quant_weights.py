"""Converted quantised weights (TFLite SSD detectors and MobileNet classifiers) and their Lookout
checkpoints, read back with ``torch.load(weights_only=True)``.

Detector checkpoint ``lookout-quant-ssd/1``: integer weights as int16 (``q - zero_point``), int32
biases, float32 requantisation scales, the qparams, the anchors and the post-processing op's
settings, the labels (index = class id, background 0). Classifier checkpoint ``lookout-classifier/1``:
the converted state dict, qparams, architecture and labels.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from detector.models.checkpoint import load_strict, read_checkpoint
from detector.models.quant_sim import build_quantized
from detector.models.quant_ssd import build_quantized_ssd
from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.util.files import replace_bytes

SSD_FORMAT = "lookout-quant-ssd/1"
SSD_ARCH = "ssd_mobilenet_v2_quant"
CLASSIFIER_FORMAT = "lookout-classifier/1"


@dataclass
class ConvertedSSD:
    """A quantised SSD-MobileNetV2: integer weights (``q - zero_point``) and requantisation.

    ``qparams``: conv module name -> {"zp", "qmin", "qmax", "channels"}; residual block name ->
    {"a", "b", "zp", "qmin", "qmax"} (as the classifiers'); "outputs" -> {"box": [(scale, zp)
    per feature map], "cls": [...], "box_out": (scale, zp), "cls_out": (scale, zp)} of the
    predictors and the concatenations; "scores" -> {"scale", "zp"} of the logistic's output.
    ``anchors``: (A, 4) float32 centre-size ``[y, x, h, w]``, normalised, dequantised as the
    post-processing op does. ``postprocess``: that op's settings. The model's input is
    ``uint8 - input_zero_point`` (RGB, ``input_size`` square).
    """

    num_classes: int  # background included
    input_size: int
    input_zero_point: float
    state_dict: dict[str, torch.Tensor]
    qparams: dict[str, dict]
    anchors: np.ndarray
    postprocess: dict = field(default_factory=dict)

    def build(self) -> torch.nn.Module:
        return load_strict(build_quantized_ssd(self.num_classes, self.qparams), self.state_dict,
                           f"detector weights do not fit SSD-MobileNetV2 with {self.num_classes} classes")


@dataclass
class ConvertedClassifier:
    """A quantised MobileNet: integer weights (``q - zero_point``) and per-layer requantisation.

    ``qparams``: conv module name -> {"scale": [...], "zp", "qmin", "qmax"}; residual block name ->
    {"a", "b", "zp", "qmin", "qmax"}; "head.pool" -> {"ratio", "zp", "qmin", "qmax"};
    "head.out_scale" -> {"value"}. ``input_zero_point``: the model's input is ``uint8 - input_zero_point``.
    """

    arch: str
    width: float
    resolution: int
    num_classes: int
    state_dict: dict[str, torch.Tensor]
    qparams: dict[str, dict]
    input_zero_point: float

    def build(self) -> torch.nn.Module:
        return load_strict(build_quantized(self.arch, self.width, self.num_classes, self.qparams), self.state_dict,
                           f"classifier weights do not fit {self.arch} width {self.width}")


def ssd_postprocessor(conv: ConvertedSSD) -> TFLiteSSDPostprocess:
    """The TFLite post-processing op of ``conv``, on its own output grids."""
    out, p = conv.qparams["outputs"], conv.postprocess
    scores = conv.qparams["scores"]
    return TFLiteSSDPostprocess(conv.anchors, tuple(p["scales"]), tuple(out["box_out"]), tuple(out["cls_out"]),
                                (scores["scale"], scores["zp"]), p["score_threshold"], p["max_detections"])


def ssd_preprocessing(conv: ConvertedSSD) -> Preprocessing:
    """uint8 RGB resized by OpenCV, then minus the input zero point (the model's integer input)."""
    return Preprocessing((conv.input_size, conv.input_size), 1.0, -conv.input_zero_point, "cv2_linear")


def save_quant_ssd(conv: ConvertedSSD, labels: tuple[str, ...], path: str | Path) -> None:
    """Write ``conv`` as a Lookout checkpoint, atomically."""
    state = {k: (v.round().to(torch.int16) if k.endswith("conv.weight") else
                 v.round().to(torch.int32) if k.endswith("conv.bias") else v) for k, v in conv.state_dict.items()}
    buf = io.BytesIO()
    torch.save({"format": SSD_FORMAT, "arch": SSD_ARCH, "num_classes": conv.num_classes, "labels": list(labels),
                "input_size": conv.input_size, "input_zero_point": conv.input_zero_point, "qparams": conv.qparams,
                "anchors": torch.from_numpy(conv.anchors), "postprocess": conv.postprocess, "state_dict": state}, buf)
    replace_bytes(path, buf.getvalue())


def read_quant_ssd(path: str | Path) -> tuple[ConvertedSSD, tuple[str, ...]]:
    """A ``save_quant_ssd`` checkpoint: (weights, labels); ValueError naming what is wrong."""
    ck = read_checkpoint(path, "detector weights", SSD_FORMAT)
    try:
        state = {k: v.float() for k, v in ck["state_dict"].items()}
        conv = ConvertedSSD(int(ck["num_classes"]), int(ck["input_size"]), float(ck["input_zero_point"]), state,
                            ck["qparams"], ck["anchors"].numpy().astype(np.float32), dict(ck["postprocess"]))
        labels = tuple(ck["labels"])
    except (KeyError, AttributeError, TypeError) as e:
        raise ValueError(f"detector checkpoint {str(path)!r} lacks {e}; expected a Lookout conversion") from None
    if len(labels) != conv.num_classes:
        raise ValueError(f"labels in {str(path)!r} list {len(labels)} names, expected {conv.num_classes}")
    return conv, labels


def save_classifier(conv: ConvertedClassifier, labels: tuple[str, ...], path: str | Path) -> None:
    """Write a converted TFLite classifier and its labels as a Lookout checkpoint, atomically."""
    if len(labels) != conv.num_classes:
        raise ValueError(f"{len(labels)} labels for {Path(path).name}, expected {conv.num_classes} (one per output)")
    buf = io.BytesIO()
    torch.save({"format": CLASSIFIER_FORMAT, "arch": conv.arch, "width": conv.width, "resolution": conv.resolution,
                "num_classes": conv.num_classes, "state_dict": conv.state_dict, "qparams": conv.qparams,
                "input_zero_point": conv.input_zero_point, "labels": list(labels)}, buf)
    replace_bytes(path, buf.getvalue())


def read_classifier(path: str | Path) -> tuple[ConvertedClassifier, tuple[str, ...]]:
    """A ``save_classifier`` checkpoint: (weights, labels); ValueError naming what is wrong."""
    ck = read_checkpoint(path, "classifier weights", CLASSIFIER_FORMAT)
    try:
        conv = ConvertedClassifier(ck["arch"], ck["width"], ck["resolution"], ck["num_classes"],
                                   ck["state_dict"], ck["qparams"], ck["input_zero_point"])
    except KeyError as e:
        raise ValueError(f"classifier checkpoint {str(path)!r} lacks {e}; expected a Lookout conversion") from None
    return conv, tuple(ck["labels"])
