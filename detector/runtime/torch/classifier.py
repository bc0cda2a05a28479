"""MobileNet image classifier: whole frames and detected boxes, ImageNet labels.

    clf = Classifier.load("mobilenet-v2", device="cpu")    # or a .tflite / .pt path
    clf.classify(bgr, k=5)              # [(label, probability), ...] best first
    clf.classify_boxes(bgr, xyxy, k=1)  # one such list per box, all boxes in one forward pass

Weights carry their preprocessing and labels: torchvision's (resize, centre crop, ImageNet mean/std)
or a TFLite file's (plain resize, its own input quantisation).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from detector.convert.qlinear_export import export_qlinear
from detector.models.fold import fold_batchnorm
from detector.models.labels import find_labels, read_labels
from detector.models.quant_sim import QConv
from detector.models.quant_weights import read_classifier, save_classifier
from detector.models.registry import CLASSIFIERS, DEFAULT_CLASSIFIER, ModelInfo
from detector.ops.preprocess import as_bgr_uint8
from detector.runtime.host import device_name
from detector.runtime.onnx.optimise import ort_session
from detector.runtime.options import select_mode
from detector.runtime.torch.modes import OnnxRuntimeModel, trace_frozen
from detector.runtime.torch.precision import exact_fp32
from detector.util.download import WeightsUnavailable, download


@dataclass(frozen=True)
class ClassifierPreprocessing:
    """RGB; resize to ``size`` x ``size`` (or short side to ``resize_to`` then centre crop), then
    ``(x - mean) / std`` with x in 0..255."""

    size: int = 224
    resize_to: int = 0
    mean: tuple[float, float, float] = (128.0, 128.0, 128.0)
    std: tuple[float, float, float] = (128.0, 128.0, 128.0)

    def to_dict(self) -> dict:
        return {"size": self.size, "resize_to": self.resize_to, "mean": list(self.mean), "std": list(self.std)}

    @classmethod
    def from_dict(cls, d: dict) -> "ClassifierPreprocessing":
        return cls(int(d["size"]), int(d["resize_to"]), tuple(d["mean"]), tuple(d["std"]))

    def image(self, rgb: np.ndarray) -> np.ndarray:
        """HxWx3 uint8 RGB -> size x size x 3 uint8, as the weights were trained/converted."""
        if not self.resize_to:
            return cv2.resize(rgb, (self.size, self.size), interpolation=cv2.INTER_LINEAR)
        h, w = rgb.shape[:2]
        s = self.resize_to / min(h, w)
        nh, nw = max(self.size, round(h * s)), max(self.size, round(w * s))
        resized = cv2.resize(rgb, (nw, nh), interpolation=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR)
        top, left = (nh - self.size) // 2, (nw - self.size) // 2
        return resized[top:top + self.size, left:left + self.size]


class Classifier:
    def __init__(self, model: nn.Module, labels: tuple[str, ...], preprocessing: ClassifierPreprocessing,
                 device: torch.device, name: str = "", mode: str = "eager", throughput: bool = False):
        mode = select_mode(device.type, mode, "classifier")
        self._spin = not throughput  # ONNX Runtime mode: see onnx.optimise.ort_session
        self.model = model.eval().to(device)
        self.mode = mode
        self.labels = labels
        self.pre = preprocessing
        self.device = device
        self.name = name
        self._lock = threading.Lock()
        mean = torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1)
        self._mean, self._std = mean.to(device), std.to(device)
        self._mean_np, self._std_np = mean.numpy(), std.numpy()
        self._ort_logits = None  # ONNX Runtime mode: NumPy (N, 3, S, S) float32 -> (N, classes) logits
        self.net = self.model
        if mode == "jit":
            example = torch.zeros(1, 3, preprocessing.size, preprocessing.size, device=device)
            self.net = trace_frozen(fold_batchnorm(self.model), example)
        elif mode == "onnxruntime":
            self.net = self._onnxruntime_net()

    def _onnxruntime_net(self):
        """Quantised models: ORT's integer kernels (QLinearConv), bit-identical to eager and 2.3x
        faster than the float graph with requantisation ops; float models: the exported graph."""
        if not any(isinstance(m, QConv) for m in self.model.modules()):
            example = torch.zeros(1, 3, self.pre.size, self.pre.size, device=self.device)
            session = OnnxRuntimeModel(fold_batchnorm(self.model), example, spin=self._spin).session
        else:
            session = ort_session(export_qlinear(self.model, self.pre.size, self.pre.mean[0]),
                                  torch.get_num_threads(), self._spin)
        out = session.get_outputs()[0].name
        self.session = session
        self._ort_logits = lambda x: session.run([out], {"images": x})[0]
        return lambda x: torch.from_numpy(self._ort_logits(x.detach().cpu().float().numpy()))

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_CLASSIFIER, device: str = "cpu",
             labels: str | Path | None = None, mode: str = "auto", throughput: bool = False) -> "Classifier":
        """By name (torchvision's ImageNet models), ``.tflite`` file or converted ``.pt`` checkpoint.
        ``throughput``: for lossless runs (its ONNX Runtime workers never spin; ``onnx.optimise.ort_session``)."""
        dev = torch.device(device_name(device))
        name = str(name_or_path)
        if name in CLASSIFIERS:
            clf = cls._torchvision(CLASSIFIERS[name], dev)
        elif Path(name).suffix == ".tflite":
            clf = cls._tflite(Path(name), dev, labels)
        elif Path(name).suffix in (".pt", ".pth"):
            clf = cls._checkpoint(Path(name), dev)
        else:
            clf = None
        if clf is not None:
            return cls(clf.model, clf.labels, clf.pre, dev, clf.name, mode, throughput)
        raise ValueError(f"unknown classifier {name!r}: expected one of {', '.join(CLASSIFIERS)}, "
                         f"or a path to a .tflite file or a converted .pt checkpoint")

    @classmethod
    def _torchvision(cls, info: ModelInfo, device: torch.device) -> "Classifier":
        import torchvision.models as tvm
        name = info.name
        fn, enum, member = info.torchvision
        weights = getattr(getattr(tvm, enum), member)
        filename = weights.url.rsplit("/", 1)[-1]
        hash_prefix = filename.rsplit("-", 1)[-1].split(".")[0]  # torchvision names files by sha256 prefix
        target = Path(torch.hub.get_dir()) / "checkpoints" / filename
        try:
            download(weights.url, target, hash_prefix)
        except WeightsUnavailable as e:
            raise WeightsUnavailable(f"{name} weights are not cached and {e}; connect once to cache them, "
                                     f"or use --classifier PATH.tflite") from None
        model = getattr(tvm, fn)(weights=None)
        model.load_state_dict(torch.load(target, map_location="cpu", weights_only=True))
        t = weights.transforms()
        pre = ClassifierPreprocessing(int(t.crop_size[0]), int(t.resize_size[0]),
                                      tuple(255.0 * m for m in t.mean), tuple(255.0 * s for s in t.std))
        return cls(model, tuple(weights.meta["categories"]), pre, device, name)

    @classmethod
    def _tflite(cls, path: Path, device: torch.device, labels: str | Path | None) -> "Classifier":
        if not path.is_file():
            raise ValueError(f"expected a .tflite file, got {str(path)!r}, which does not exist")
        from detector.convert.tflite_mobilenet import convert_tflite  # the TFLite reader loads only when needed
        conv = convert_tflite(path.read_bytes())
        names = read_labels(labels or find_labels(path), conv.num_classes)
        return cls.from_converted(conv, names, device, path.name)

    @classmethod
    def from_converted(cls, conv, labels: tuple[str, ...], device, name: str) -> "Classifier":
        """A classifier over a converted quantised model; its input is the uint8 image minus the zero point."""
        if len(labels) != conv.num_classes:
            raise ValueError(f"{len(labels)} labels for {name}, expected {conv.num_classes} (one per output)")
        pre = ClassifierPreprocessing(conv.resolution, 0, (conv.input_zero_point,) * 3, (1.0, 1.0, 1.0))
        return cls(conv.build(), labels, pre, device, name)

    def save(self, path: str | Path, conv) -> None:
        """Save the converted TFLite classifier ``conv`` this was built from as a Lookout checkpoint
        (labels included; ``models.quant_weights``)."""
        save_classifier(conv, self.labels, path)

    @classmethod
    def _checkpoint(cls, path: Path, device: torch.device) -> "Classifier":
        conv, labels = read_classifier(path)
        return cls.from_converted(conv, labels, device, path.name)

    # ---- inference -----------------------------------------------------------------------------
    def _rgb(self, crops: list[np.ndarray]) -> np.ndarray:
        """BGR crops -> (N, S, S, 3) uint8 RGB, resized as the weights expect."""
        return np.stack([self.pre.image(cv2.cvtColor(c, cv2.COLOR_BGR2RGB)) for c in crops])

    def _batch(self, crops: list[np.ndarray]) -> torch.Tensor:
        """The torch model's input: (N, 3, S, S) float32 ``(rgb - mean) / std`` on the device."""
        x = torch.from_numpy(self._rgb(crops)).to(self.device).permute(0, 3, 1, 2).float()
        return (x - self._mean) / self._std

    def _input(self, crops: list[np.ndarray]):
        """What ``_logits`` takes: ``_batch``'s values, as a NumPy array for ONNX Runtime (the same
        float32 arithmetic: equal to the last bit), else ``_batch`` itself."""
        if self._ort_logits is None:
            return self._batch(crops)
        x = np.ascontiguousarray(self._rgb(crops).transpose(0, 3, 1, 2), dtype=np.float32)
        x -= self._mean_np
        x /= self._std_np
        return x

    def _logits(self, x) -> np.ndarray:
        """(N, classes) float32 logits for ``_input``'s output. ONNX Runtime is called without torch
        around it: with torch tensors in, out and a torch softmax, the quantised MobileNetV2 224 took
        9.3-11.0 ms a vtest frame against 5.5-6.3 ms (2-core Xeon, 3 alternating runs of 100 frames;
        torch's own thread pool woke up beside ONNX Runtime's)."""
        if self._ort_logits is not None:
            with self._lock:
                return self._ort_logits(x)
        # TF32 would break the integer-exact arithmetic on CUDA
        with torch.inference_mode(), self._lock, exact_fp32(self.device, half=False):
            return self.net(x).float().cpu().numpy()

    @staticmethod
    def softmax(logits: np.ndarray) -> np.ndarray:
        """Row-wise softmax of (N, classes) logits, float32."""
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    def _probs(self, crops: list[np.ndarray]) -> np.ndarray:
        return self.softmax(self._logits(self._input(crops)))

    def _top(self, p: np.ndarray, k: int) -> list[tuple[str, float]]:
        idx = np.argsort(-p, kind="stable")[:k]
        return [(self.labels[i], float(p[i])) for i in idx]

    def classify(self, image: np.ndarray, k: int = 5) -> list[tuple[str, float]]:
        """Top-k (label, probability) for the whole image (HxWx3 uint8 BGR), best first."""
        return self._top(self._probs([as_bgr_uint8(image)])[0], k)

    def classify_boxes(self, image: np.ndarray, xyxy: np.ndarray, k: int = 1) -> list[list[tuple[str, float]]]:
        """Top-k for each box (N, 4) xyxy in image pixels, in one batched forward pass.

        Boxes are clipped to the image; a box with nothing left (empty or zero area) is a ValueError
        naming it.
        """
        image = as_bgr_uint8(image)
        boxes = np.asarray(xyxy, dtype=np.float32).reshape(-1, 4)
        if not len(boxes):
            return []
        h, w = image.shape[:2]
        crops = []
        for i, (x1, y1, x2, y2) in enumerate(boxes):
            ix1, iy1 = int(max(0, np.floor(x1))), int(max(0, np.floor(y1)))
            ix2, iy2 = int(min(w, np.ceil(x2))), int(min(h, np.ceil(y2)))
            if not np.isfinite([x1, y1, x2, y2]).all() or ix2 <= ix1 or iy2 <= iy1:
                raise ValueError(f"box {i} {[float(v) for v in (x1, y1, x2, y2)]} has no area inside the "
                                 f"{w}x{h} image; expected x1 < x2 and y1 < y2 overlapping it")
            crops.append(image[iy1:iy2, ix1:ix2])
        return [self._top(p, k) for p in self._probs(crops)]
