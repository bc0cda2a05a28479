"""How a detector is to be loaded: one frozen ``LoadOptions`` with the defaults and the checks, and
the one choice of runtime mode for a device (``select_mode``), so no two loaders can disagree.

Modes: eager, fused, jit, onnxruntime, and "auto" = the fastest exact one here (see ``select_mode``).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

from detector.runtime.host import ort_installed

DETECTOR_MODES = ("eager", "fused", "jit", "onnxruntime")
CLASSIFIER_MODES = ("eager", "jit", "onnxruntime")
QUANT_MODES = ("eager", "onnxruntime")


def checked_score_threshold(value: float) -> float:
    """``value`` as a float in [0, 1]; ValueError otherwise."""
    if not 0.0 <= float(value) <= 1.0:
        raise ValueError(f"expected a score threshold in [0, 1], got {value}")
    return float(value)


def checked_iou_threshold(value: float) -> float:
    """``value`` as a float in (0, 1]; ValueError otherwise."""
    if not 0.0 < float(value) <= 1.0:
        raise ValueError(f"expected an NMS IoU threshold in (0, 1], got {value}")
    return float(value)


@dataclass(frozen=True)
class LoadOptions:
    """Everything a detector load takes besides the model.

    ``device``: "auto", "cpu", "cuda" or "cuda:N". ``mode``: "auto" or one of ``DETECTOR_MODES``
    (``--backend``). ``half``: fp16 on CUDA. ``score_threshold`` in [0, 1] and ``iou_threshold`` in
    (0, 1]: the detector's starting thresholds (settable later on the detector). ``int8``: True
    (calibrated on the demo clip) or a video / image / folder to calibrate on: a float SSDLite as
    ONNX Runtime int8 (``onnx.int8``). ``throughput``: for lossless runs, where decoding and encoding
    threads share the cores (ONNX Runtime's workers never spin; ``onnx.optimise.ort_session``).
    ``labels``: a labels file for an ONNX detector whose file names none (``onnx.foreign``).
    """

    device: str = "auto"
    mode: str = "auto"
    half: bool = False
    score_threshold: float = 0.3
    iou_threshold: float = 0.6
    int8: bool | str | Path = False
    throughput: bool = False
    labels: str | Path | None = None  # a labels file for an ONNX detector without its own (one name a line)

    def __post_init__(self):
        object.__setattr__(self, "device", str(self.device))
        object.__setattr__(self, "score_threshold", checked_score_threshold(self.score_threshold))
        object.__setattr__(self, "iou_threshold", checked_iou_threshold(self.iou_threshold))
        if self.int8 is None:
            object.__setattr__(self, "int8", False)

    @property
    def int8_calibration(self) -> str | Path | None:
        """The frames ``int8`` calibrates on (None: the demo clip)."""
        return None if self.int8 is True else self.int8


def load_options(options: LoadOptions | str | None = None, **changes) -> LoadOptions:
    """How every public load function reads its arguments: ``options`` (a ``LoadOptions``, a device
    name, or None for the defaults) with ``changes`` (``LoadOptions`` fields) applied, so that
    ``load_detector(name, "cpu")``, ``load_detector(name, device="cpu", mode="jit")`` and
    ``load_detector(name, LoadOptions(...))`` all work. TypeError for an unknown field."""
    if isinstance(options, LoadOptions):
        return replace(options, **changes) if changes else options
    if options is not None:
        changes = {"device": options, **changes}
    return LoadOptions(**changes)


def select_mode(device: str, mode: str = "auto", kind: str = "detector") -> str:
    """The runtime for a model of ``kind`` ("detector", "quant-detector", "classifier") on ``device``
    (a name from ``host.device_name``). ``mode="auto"``: ONNX Runtime on the CPU when installed (2.5x
    TorchScript for the detector, 1.8x eager for the classifier on the 2-core benchmark machine);
    on CUDA TorchScript for the float detector (batch 1 is launch-bound: jit 4.7 ms, eager 9.3 on
    an H200) and eager for integer-exact models (TorchScript's fused kernels broke exactness there).
    An explicit mode is checked against what ``kind`` offers; ValueError otherwise."""
    modes = {"detector": DETECTOR_MODES, "quant-detector": QUANT_MODES, "classifier": CLASSIFIER_MODES}[kind]
    cpu = device == "cpu"
    if mode == "auto":
        if cpu and ort_installed():
            return "onnxruntime"
        return "jit" if kind == "detector" else "eager"
    if mode not in modes:
        raise ValueError(f"expected a {kind.replace('-', ' ')} mode in auto, {', '.join(modes)}, got {mode!r}")
    if mode == "onnxruntime" and not cpu:
        raise ValueError(f"the onnxruntime backend runs on the CPU here, got device {device}")
    return mode
