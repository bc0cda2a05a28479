"""The public detector: load by name or path, detect on BGR images of any size.

    det = Detector.load("ssdlite-mobilenetv2-person", device="cpu")
    dets = det.detect(bgr)   # Detections, xyxy in pixels of ``bgr``
"""
from __future__ import annotations

import contextlib
import os
import time
from pathlib import Path

import numpy as np
import torch

from . import labels as label_lists
from .detector_core import DetectorCore
from .detector_model import DetectorWeights
from .hub import (COCO_SHA256, COCO_URL, DEFAULT_MODEL, KNOWN_MODELS, MODELS, PERSON_ASSET, WeightsUnavailable,
                  cache_dir, checkpoint_file, coco_converted_path, display_name, download)
from .onnx_detector import bundle_paths, file_key, find_bundle, save_bundle_meta
from .optimize import MODES, OnnxRuntimeModel, auto_mode, fold_batchnorm, trace_frozen
from .postprocess import GraphPostprocess
from .preprocess import Preprocessing, TFBilinearResize, as_bgr_uint8
from .ssd import SSD

DEFAULT_MODE = "auto"


def resolve_device(device: str | torch.device) -> torch.device:
    """"auto" -> cuda when available, else cpu. "cuda" without a GPU is a ValueError."""
    name = str(device)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise ValueError("expected a CUDA GPU for device 'cuda', got none on this machine; use --device cpu")
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"expected device 'auto', 'cpu' or 'cuda', got {name!r}")
    return torch.device(name)


def exact_fp32(device: torch.device, half: bool):
    """Context for an fp32 forward on CUDA: cuDNN convolutions in true fp32, not TF32.

    TF32 keeps 10 mantissa bits, which moves raw outputs by ~1e-2 (breaking TF parity) and breaks the
    classifier's integer-exact arithmetic; fp16 mode is the fast GPU path instead. A no-op on the CPU
    and in fp16.
    """
    if device.type != "cuda" or half:
        return contextlib.nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=True, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                       allow_tf32=False)


def _labels_for(num_classes: int) -> tuple[str, ...]:
    if num_classes == len(label_lists.COCO90):
        return label_lists.COCO90
    if num_classes == len(label_lists.PERSON):
        return label_lists.PERSON
    return ("background",) + tuple(f"class_{i}" for i in range(1, num_classes))


def weights_from_graph(path: str | Path) -> DetectorWeights:
    """Convert a TF OD API frozen graph (.pb or model-zoo .tar.gz) with the project's converter."""
    from .convert.tf_detection import convert_graph, read_graph_bytes
    state, num_classes = convert_graph(read_graph_bytes(path))
    return DetectorWeights(state, num_classes, _labels_for(num_classes))


def coco_weights(url: str | None = None, sha256: str = COCO_SHA256) -> DetectorWeights:
    """The TF model zoo's COCO SSDLite: converted once from the sha256-checked tarball, then cached.

    ``url`` defaults to ``$LOOKOUT_COCO_URL`` (a mirror) or the model zoo. The hash is never relaxed.
    """
    converted = coco_converted_path()
    if converted.is_file():
        return DetectorWeights.load(converted)
    url = url or os.environ.get("LOOKOUT_COCO_URL", COCO_URL)
    try:
        tarball = download(url, cache_dir() / "ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz", sha256)
    except WeightsUnavailable as e:
        raise WeightsUnavailable(f"ssdlite-mobilenetv2-coco is not cached and {e}; offline? pass "
                                 f"ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz or its .pb with --model PATH") from None
    weights = weights_from_graph(tarball)
    try:
        weights.save(converted)
        tarball.unlink()  # the converted checkpoint is all we read from now on
    except OSError as e:
        raise WeightsUnavailable(f"cannot write the converted COCO model to {str(converted)!r} ({e.strerror}); "
                                 f"set LOOKOUT_CACHE to a writable folder") from None
    return weights


def load_weights(name_or_path: str | Path) -> DetectorWeights:
    """Weights for a known model name, a Lookout checkpoint (.pt), or a frozen graph (.pb/.tar.gz)."""
    name = str(name_or_path)
    if name == "ssdlite-mobilenetv2-person":
        return DetectorWeights.load(PERSON_ASSET)
    if name == "ssdlite-mobilenetv2-coco":
        return coco_weights()
    path = Path(name)
    if path.suffix in (".pb", ".gz", ".tgz", ".tar"):
        return weights_from_graph(path)
    if path.suffix in (".pt", ".pth"):
        if not path.is_file():
            raise ValueError(f"expected a detector checkpoint file, got {name!r}, which does not exist")
        return DetectorWeights.load(path)
    raise ValueError(f"unknown detector {name!r}: expected one of {', '.join(KNOWN_MODELS)}, "
                     f"or a path to a .pt checkpoint, .tflite SSD, .pb frozen graph or model-zoo .tar.gz")


def quantized_source(name_or_path) -> Path | None:
    """The file of a quantised TFLite SSD a detector name or path stands for (a .tflite file or
    its Lookout checkpoint), None for the float SSDLite family."""
    name = str(name_or_path)
    info = MODELS.get(name)
    if info is not None:
        if info.family != "tflite-ssd":
            return None
        if info.local_file() is None:
            raise ValueError(f"the embedded model {name} is missing from {info.asset}; reinstall Lookout")
        return info.local_file()
    path = Path(name)
    if path.suffix == ".tflite":
        return path
    if path.suffix in (".pt", ".pth") and path.is_file():
        from .quant_detector import FORMAT
        try:
            fmt = torch.load(path, map_location="cpu", weights_only=True).get("format")
        except Exception:  # unreadable: DetectorWeights.load says why
            return None
        return path if fmt == FORMAT else None
    return None


class Detector(DetectorCore):
    """SSDLite-MobileNetV2 in PyTorch on CPU or CUDA (fp32 unless ``half=True`` on CUDA).

    Postprocessing (decode, NMS, Detections) is shared with every runtime (``DetectorCore``).
    """

    def __init__(self, model: SSD, weights_labels: tuple[str, ...], device: torch.device,
                 input_size: tuple[int, int], name: str = "", score_threshold: float = 0.3,
                 iou_threshold: float = 0.6, half: bool = False, mode: str = "eager", cache_key: str = "",
                 preprocessing: Preprocessing = Preprocessing(), bundle: tuple | None = None):
        if mode == "auto":
            mode = auto_mode(device)
        if mode not in MODES:
            raise ValueError(f"expected a detector mode in auto, {', '.join(MODES)}, got {mode!r}")
        if mode == "onnxruntime" and device.type != "cpu":
            raise ValueError(f"the onnxruntime backend runs on the CPU here, got device {device}")
        self.model = model.to(device).eval()
        self.half = half and device.type == "cuda"
        if self.half:
            self.model.half()
        self.device = device
        self.preprocessing = preprocessing
        self.resize = TFBilinearResize(tuple(input_size))  # float SSDLite graphs: TF's own resize
        self.anchors = self.model.anchors(self.model.grid_sizes(tuple(input_size)), device).cpu().numpy()
        self.box_coder = self.model.box_coder
        super().__init__(weights_labels, GraphPostprocess(self.anchors, self.box_coder), input_size, name, mode,
                         score_threshold, iou_threshold)
        self.net = self._build_net(mode, cache_key, bundle)

    def _build_net(self, mode: str, cache_key: str, bundle: tuple | None):
        """The forward callable for ``mode`` (see detector.optimize). ``bundle``: an exported graph
        that already exists for these weights (``onnx_detector.find_bundle``)."""
        if mode == "eager":
            return self.model
        fused = fold_batchnorm(self.model)
        if mode == "fused":
            return fused
        example = torch.zeros(1, 3, *self.input_size, device=self.device,
                              dtype=torch.half if self.half else torch.float32)
        if mode == "jit":
            return trace_frozen(fused, example)
        if not cache_key:
            return OnnxRuntimeModel(fused, example)
        if bundle is not None:  # a valid exported graph already exists: no export
            return OnnxRuntimeModel(fused, example, cache=bundle[0])
        net = OnnxRuntimeModel(fused, example, cache=bundle_paths(cache_key)[0])
        # What a later start needs to run this graph without torch (see onnx_detector).
        save_bundle_meta(cache_key, self.labels, self.preprocessing, self.postprocessor)
        return net

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, device: str = "auto",
             score_threshold: float = 0.3, iou_threshold: float = 0.6, half: bool = False,
             mode: str = DEFAULT_MODE) -> "DetectorCore":
        """A detector by registry name (``hub.MODELS``) or path, as the fastest exact runtime: with
        ``mode="auto"`` on the CPU that is the exported graph in ONNX Runtime without torch
        (``onnx_detector.OnnxDetector``, 1.5-2 ms a frame faster than the same session behind the
        torch model) when its bundle exists. Otherwise quantised TFLite SSDs come back as
        ``quant_detector.QuantizedDetector`` (integer-exact; ``half`` does not apply), the float
        SSDLite family as ``Detector``; all answer ``detect`` / ``detect_batch`` the same way."""
        if mode == "auto":
            from .onnx_detector import load_cached
            fast = load_cached(name_or_path, device, mode, half, score_threshold, iou_threshold)
            if fast is not None:
                return fast
        dev = resolve_device(device)
        quant = quantized_source(name_or_path)
        if quant is not None:
            from .quant_detector import QUANT_MODES, QuantizedDetector
            if mode not in ("auto",) + QUANT_MODES:
                raise ValueError(f"the quantised detector {display_name(name_or_path)} runs in mode auto, "
                                 f"{' or '.join(QUANT_MODES)}, got {mode!r}")
            return QuantizedDetector.load(quant, dev, display_name(name_or_path), score_threshold, iou_threshold,
                                          mode)
        weights = load_weights(name_or_path)
        model = weights.build()
        ckpt = checkpoint_file(name_or_path)
        key = file_key(ckpt) if ckpt else weights.digest()
        bundle = find_bundle(ckpt, key) if ckpt and mode in ("auto", "onnxruntime") else None
        return cls(model, weights.labels, dev, weights.preprocessing.size, display_name(name_or_path),
                   score_threshold, iou_threshold, half=half, mode=mode, cache_key=key,
                   preprocessing=weights.preprocessing, bundle=bundle)

    def preprocess(self, images: list[np.ndarray]) -> torch.Tensor:
        """BGR uint8 images -> (N, 3, H, W) RGB, ``x * scale + offset`` (the weights' preprocessing: [-1, 1]
        for the TF models) on the model's device, as TF's graph makes it."""
        pre = self.preprocessing
        if self.device.type == "cpu":
            planes = [self.resize.numpy(img, pre.scale, pre.offset) for img in images]
            return torch.from_numpy(planes[0][None] if len(planes) == 1 else np.stack(planes))
        batch = []
        for img in images:
            t = torch.from_numpy(np.ascontiguousarray(img)).to(self.device, non_blocking=True)
            batch.append(self.resize(t).flip(0))  # BGR -> RGB on the small resized image
        x = torch.stack(batch)
        x = x * pre.scale + pre.offset
        return x.half() if self.half else x

    @torch.inference_mode()
    def raw(self, images: list[np.ndarray]) -> tuple[torch.Tensor, torch.Tensor]:
        """Raw (box_encodings (N, A, 4), class_logits (N, A, C+1)) float32 on the same input TF sees."""
        enc, logits = self._forward(self.preprocess([as_bgr_uint8(i) for i in images]))
        return enc.float(), logits.float()

    def _forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        with self._lock, exact_fp32(self.device, self.half):
            return self.net(x)

    @torch.inference_mode()
    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        x = self.preprocess(images)
        if timings is not None:
            timings["preprocess"] = (time.perf_counter() - t0) * 1000
        enc, logits = self._forward(x)
        return enc.float().cpu().numpy(), logits.float().cpu().numpy()


def write_onnx_bundle(ckpt: str | Path) -> tuple[Path, Path]:
    """Export checkpoint ``ckpt``'s ONNX Runtime bundle beside it (NAME.onnx, NAME.onnx.npz), so
    that even the first start needs no torch (see onnx_detector). Returns the two paths."""
    from .onnx_detector import beside_paths
    from .optimize import export_onnx
    ckpt = Path(ckpt)
    det = Detector.load(ckpt, device="cpu", mode="eager")
    data = export_onnx(fold_batchnorm(det.model), torch.zeros(1, 3, *det.input_size))
    onnx_path, meta_path = beside_paths(ckpt)
    tmp = onnx_path.with_name(onnx_path.name + ".part")
    tmp.write_bytes(data)
    os.replace(tmp, onnx_path)
    save_bundle_meta(file_key(ckpt), det.labels, det.preprocessing, det.postprocessor, meta=meta_path)
    if not meta_path.is_file():
        raise ValueError(f"could not write {meta_path}")
    return onnx_path, meta_path
