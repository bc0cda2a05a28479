"""Quantised TFLite SSD detectors in PyTorch or ONNX Runtime, integer-exact with the interpreter.

    det = Detector.load("ssd-mobilenetv2-coco", device="cpu")   # returns one of these
    dets = det.detect(bgr)

Checkpoint format ``lookout-quant-ssd/1`` (``torch.load(weights_only=True)``): integer weights as
int16 (``q - zero_point``), int32 biases, float32 requantisation scales, the qparams, the anchors
and the post-processing op's settings, the labels (index = class id, background 0).
Modes: ``onnxruntime`` (CPU default: ORT's QLinearConv kernels, outputs identical) and ``eager``
(the torch model: CPU or CUDA).
"""
from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import torch

from detector.models.checkpoint import read_checkpoint
from detector.convert.tflite_ssd import ConvertedSSD
from detector.runtime.core import DetectorCore
from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.util.files import keep_cache_file, replace_bytes
from detector.runtime.backend import select_mode

FORMAT = "lookout-quant-ssd/1"
ARCH = "ssd_mobilenet_v2_quant"


def postprocessor_for(conv: ConvertedSSD) -> TFLiteSSDPostprocess:
    out, p = conv.qparams["outputs"], conv.postprocess
    scores = conv.qparams["scores"]
    return TFLiteSSDPostprocess(conv.anchors, tuple(p["scales"]), tuple(out["box_out"]), tuple(out["cls_out"]),
                                (scores["scale"], scores["zp"]), p["score_threshold"], p["max_detections"])


def preprocessing_for(conv: ConvertedSSD) -> Preprocessing:
    """uint8 RGB resized by OpenCV, then minus the input zero point (the model's integer input)."""
    return Preprocessing((conv.input_size, conv.input_size), 1.0, -conv.input_zero_point, "cv2_linear")


def save_checkpoint(conv: ConvertedSSD, labels: tuple[str, ...], path: str | Path) -> None:
    """Write ``conv`` as a Lookout checkpoint, atomically."""
    state = {k: (v.round().to(torch.int16) if k.endswith("conv.weight") else
                 v.round().to(torch.int32) if k.endswith("conv.bias") else v) for k, v in conv.state_dict.items()}
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "arch": ARCH, "num_classes": conv.num_classes, "labels": list(labels),
                "input_size": conv.input_size, "input_zero_point": conv.input_zero_point, "qparams": conv.qparams,
                "anchors": torch.from_numpy(conv.anchors), "postprocess": conv.postprocess, "state_dict": state}, buf)
    replace_bytes(path, buf.getvalue())


def read_checkpoint_ssd(path: str | Path) -> tuple[ConvertedSSD, tuple[str, ...]]:
    ck = read_checkpoint(path, "detector weights", FORMAT)
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


def read_tflite_ssd(path: str | Path) -> ConvertedSSD:
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"expected a .tflite detector file, got {str(path)!r}, which does not exist")
    from detector.convert.tflite_ssd import convert_tflite_ssd
    try:
        return convert_tflite_ssd(path.read_bytes())
    except ValueError as e:
        raise ValueError(f"{path.name}: {e}") from None


class QuantizedDetector(DetectorCore):
    """A quantised SSD (``quant_ssd.QuantizedSSD``) behind the shared detector interface."""

    def __init__(self, conv: ConvertedSSD, labels: tuple[str, ...], device: torch.device, name: str = "",
                 score_threshold: float = 0.3, iou_threshold: float | None = None, mode: str = "auto",
                 onnx_cache: Path | None = None, throughput: bool = False):
        mode = select_mode(device.type, mode, "quant-detector")
        self._spin = not throughput  # ONNX Runtime mode: see backend.ort_session
        self.device = device
        self.half = False  # integer-exact: no fp16
        self.converted = conv
        self.preprocessing = preprocessing_for(conv)
        self.resize = self.preprocessing.resizer()
        self.model = conv.build().to(device)
        iou = conv.postprocess["iou_threshold"] if iou_threshold is None else iou_threshold
        super().__init__(labels, postprocessor_for(conv), (conv.input_size, conv.input_size), name, mode,
                         score_threshold, iou)
        self.net = self._onnxruntime(onnx_cache) if mode == "onnxruntime" else self._eager

    def _eager(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from detector.runtime.torch_detector import exact_fp32  # TF32 on CUDA would break the integer arithmetic
        with torch.inference_mode(), exact_fp32(self.device, half=False):
            box, cls = self.model(torch.from_numpy(x).to(self.device))
        return box.cpu().numpy(), cls.cpu().numpy()

    def _onnxruntime(self, cache: Path | None):
        from detector.runtime.backend import ort_session
        from detector.runtime.qlinear_export import export_qlinear_ssd
        data = cache.read_bytes() if cache is not None and cache.is_file() else None
        if data is None:
            data = export_qlinear_ssd(self.model.cpu(), self.converted.input_size, self.converted.input_zero_point)
            if cache is not None:
                keep_cache_file(cache, data)
        session = self.session = ort_session(data, torch.get_num_threads(), self._spin)
        names = [o.name for o in session.get_outputs()]
        return lambda x: tuple(session.run(names, {"images": x}))

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        pre = self.preprocessing
        x = self.resize.batch(images, pre.scale, pre.offset)
        if timings is not None:
            timings["preprocess"] = (time.perf_counter() - t0) * 1000
        with self._lock:
            return self.net(x)

    def raw(self, images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Raw outputs as uint8 arrays: box encodings (N, A, 4) ('Squeeze') and class logits
        (N, A, C+1) ('concat'), the interpreter's integers before post-processing."""
        from detector.ops.preprocess import as_bgr_uint8
        box, cls = self._infer([as_bgr_uint8(i) for i in images], None)
        return box.astype(np.uint8), cls.astype(np.uint8)

    @classmethod
    def load(cls, path_or_asset: str | Path, device: torch.device, name: str, score_threshold: float = 0.3,
             iou_threshold: float | None = None, mode: str = "auto", throughput: bool = False) -> "QuantizedDetector":
        """From a ``.tflite`` file or a Lookout checkpoint; ONNX Runtime's graph from its bundle or cache."""
        from detector.runtime.onnx_detector import bundle_paths, file_key, find_bundle, save_bundle_meta
        path = Path(path_or_asset)
        if path.suffix == ".tflite":
            conv = read_tflite_ssd(path)
            from detector.models import labels as label_lists
            labels = label_lists.COCO90 if conv.num_classes == len(label_lists.COCO90) else \
                ("background",) + tuple(f"class_{i}" for i in range(1, conv.num_classes))
        else:
            conv, labels = read_checkpoint_ssd(path)
        key = file_key(path)
        found = find_bundle(path, key) if mode in ("auto", "onnxruntime") else None
        cache = found[0] if found else bundle_paths(key)[0]
        det = cls(conv, labels, device, name, score_threshold, iou_threshold, mode, onnx_cache=cache,
                  throughput=throughput)
        if det.mode == "onnxruntime" and not found:
            save_bundle_meta(key, det.labels, det.preprocessing, det.postprocessor)
        return det


def write_quant_bundle(ckpt: str | Path) -> tuple[Path, Path]:
    """Export checkpoint ``ckpt``'s ONNX Runtime bundle beside it (NAME.onnx, NAME.onnx.npz)."""
    from detector.runtime.onnx_detector import beside_paths, file_key, save_bundle_meta
    from detector.runtime.qlinear_export import export_qlinear_ssd
    ckpt = Path(ckpt)
    conv, labels = read_checkpoint_ssd(ckpt)
    det = QuantizedDetector(conv, labels, torch.device("cpu"), ckpt.name, mode="eager")
    onnx_path, meta_path = beside_paths(ckpt)
    replace_bytes(onnx_path, export_qlinear_ssd(det.model, conv.input_size, conv.input_zero_point))
    save_bundle_meta(file_key(ckpt), labels, det.preprocessing, det.postprocessor, meta=meta_path)
    if not meta_path.is_file():
        raise ValueError(f"could not write {meta_path}")
    return onnx_path, meta_path
