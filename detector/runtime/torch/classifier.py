"""MobileNet image classifiers in PyTorch (eager, TorchScript) or behind it in ONNX Runtime: by
torchvision name, quantised ``.tflite`` file or converted ``.pt`` checkpoint. The shared NumPy path
and the interface are ``runtime.classifier``; ``runtime.loader.load_classifier`` picks the runtime.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from detector.convert.qlinear_export import export_qlinear
from detector.models.fold import fold_batchnorm
from detector.models.labels import find_labels, read_labels
from detector.models.quant_sim import QConv
from detector.models.quant_weights import read_classifier
from detector.models.registry import CLASSIFIERS, ModelInfo
from detector.runtime.classifier import Classifier, ClassifierPreprocessing
from detector.runtime.host import device_name
from detector.runtime.onnx.optimise import ort_session
from detector.runtime.options import select_mode
from detector.runtime.torch.modes import OnnxRuntimeModel, trace_frozen
from detector.runtime.torch.precision import exact_fp32
from detector.util.download import WeightsUnavailable, download


class TorchClassifier(Classifier):
    """A classifier's torch model in ``mode``; in "onnxruntime" a quantised model runs as ORT's integer
    kernels (``ort_graph``: that graph's bytes, for the loader to keep for a torch-free start)."""

    def __init__(self, model: nn.Module, labels: tuple[str, ...], preprocessing: ClassifierPreprocessing,
                 device: torch.device | str, name: str = "", mode: str = "eager", throughput: bool = False):
        self.torch_device = torch.device(device)
        mode = select_mode(self.torch_device.type, mode, "classifier")
        super().__init__(labels, preprocessing, name, mode, str(self.torch_device))
        self._spin = not throughput  # ONNX Runtime mode: see onnx.optimise.ort_session
        self.model = model.eval().to(self.torch_device)
        mean = torch.tensor(preprocessing.mean, dtype=torch.float32).view(1, 3, 1, 1)
        std = torch.tensor(preprocessing.std, dtype=torch.float32).view(1, 3, 1, 1)
        self._mean, self._std = mean.to(self.torch_device), std.to(self.torch_device)
        self._mean_np, self._std_np = mean.numpy(), std.numpy()
        self._ort_logits = None  # ONNX Runtime mode: NumPy (N, 3, S, S) float32 -> (N, classes) logits
        self.ort_graph: bytes | None = None
        self.net = self.model
        if mode == "jit":
            example = torch.zeros(1, 3, preprocessing.size, preprocessing.size, device=self.torch_device)
            self.net = trace_frozen(fold_batchnorm(self.model), example)
        elif mode == "onnxruntime":
            self.net = self._onnxruntime_net()

    def _onnxruntime_net(self):
        """Quantised models: ORT's integer kernels (QLinearConv), bit-identical to eager and 2.3x
        faster than the float graph with requantisation ops; float models: the exported graph."""
        if not any(isinstance(m, QConv) for m in self.model.modules()):
            example = torch.zeros(1, 3, self.pre.size, self.pre.size, device=self.torch_device)
            session = OnnxRuntimeModel(fold_batchnorm(self.model), example, spin=self._spin).session
        else:
            self.ort_graph = export_qlinear(self.model, self.pre.size, self.pre.mean[0])
            session = ort_session(self.ort_graph, torch.get_num_threads(), self._spin)
        out = session.get_outputs()[0].name
        self.session = session
        self._ort_logits = lambda x: session.run([out], {"images": x})[0]
        return lambda x: torch.from_numpy(self._ort_logits(x.detach().cpu().float().numpy()))

    # ---- loading -------------------------------------------------------------------------------
    @classmethod
    def build(cls, name_or_path: str | Path, device: str = "cpu", labels: str | Path | None = None,
              mode: str = "auto", throughput: bool = False) -> "TorchClassifier":
        """By name (torchvision's ImageNet models), ``.tflite`` file or converted ``.pt`` checkpoint
        (``Classifier.load``'s arguments, which calls this when torch is needed)."""
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
    def _torchvision(cls, info: ModelInfo, device: torch.device) -> "TorchClassifier":
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
    def _tflite(cls, path: Path, device: torch.device, labels: str | Path | None) -> "TorchClassifier":
        if not path.is_file():
            raise ValueError(f"expected a .tflite file, got {str(path)!r}, which does not exist")
        from detector.convert.tflite_mobilenet import convert_tflite  # the TFLite reader loads only when needed
        conv = convert_tflite(path.read_bytes())
        names = read_labels(labels or find_labels(path), conv.num_classes)
        return cls.from_converted(conv, names, device, path.name)

    @classmethod
    def from_converted(cls, conv, labels: tuple[str, ...], device, name: str) -> "TorchClassifier":
        """A classifier over a converted quantised model; its input is the uint8 image minus the zero point."""
        if len(labels) != conv.num_classes:
            raise ValueError(f"{len(labels)} labels for {name}, expected {conv.num_classes} (one per output)")
        pre = ClassifierPreprocessing(conv.resolution, 0, (conv.input_zero_point,) * 3, (1.0, 1.0, 1.0))
        return cls(conv.build(), labels, pre, device, name)

    @classmethod
    def _checkpoint(cls, path: Path, device: torch.device) -> "TorchClassifier":
        conv, labels = read_classifier(path)
        return cls.from_converted(conv, labels, device, path.name)

    # ---- inference -----------------------------------------------------------------------------
    def _batch(self, crops: list[np.ndarray]) -> torch.Tensor:
        """The torch model's input: (N, 3, S, S) float32 ``(rgb - mean) / std`` on the device."""
        x = torch.from_numpy(self._rgb(crops)).to(self.torch_device).permute(0, 3, 1, 2).float()
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
        with torch.inference_mode(), self._lock, exact_fp32(self.torch_device, half=False):
            return self.net(x).float().cpu().numpy()

