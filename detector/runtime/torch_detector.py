"""The public detector: load by name or path, detect on BGR images of any size.

    det = Detector.load("ssdlite-mobilenetv2-person", device="cpu")
    dets = det.detect(bgr)   # Detections, xyxy in pixels of ``bgr``
"""
from __future__ import annotations

import contextlib
import time
from pathlib import Path

import numpy as np
import torch

from detector.models import labels as label_lists
from detector.runtime.core import DetectorCore
from detector.models.ssdlite import DetectorWeights
from detector.models.registry import DEFAULT_MODEL, KNOWN_MODELS, MODELS, ModelInfo, checkpoint_file, display_name
from detector.util.download import WeightsUnavailable, cache_dir, download
from detector.runtime.onnx_detector import bundle_paths, file_key, find_bundle, save_bundle_meta
from detector.runtime.backend import device_name, select_mode
from detector.runtime.torch_modes import OnnxRuntimeModel, fold_batchnorm, trace_frozen
from detector.ops.postprocess import GraphPostprocess
from detector.ops.preprocess import Preprocessing, TFBilinearResize, as_bgr_uint8
from detector.models.ssd import SSD
from detector.util.files import replace_bytes

DEFAULT_MODE = "auto"


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
    from detector.convert.tf_detection import convert_graph, read_graph_bytes
    state, num_classes = convert_graph(read_graph_bytes(path))
    return DetectorWeights(state, num_classes, _labels_for(num_classes))


def downloaded_weights(info: ModelInfo) -> DetectorWeights:
    """A registry model whose weights download as a TF graph: converted once from the sha256-checked
    download, then cached. The URL may be a mirror (``info.mirror_env``); the hash is never relaxed."""
    converted = info.local_file()
    if converted is not None:
        return DetectorWeights.load(converted)
    url = info.download_url()
    try:
        archive = download(url, info.download_path(), info.sha256)
    except WeightsUnavailable as e:
        raise WeightsUnavailable(f"{info.name} is not cached and {e}; offline? pass {info.download_name} or its "
                                 f".pb with --model PATH") from None
    weights = weights_from_graph(archive)
    target = cache_dir() / info.converted
    try:
        weights.save(target)
        archive.unlink()  # the converted checkpoint is all we read from now on
    except OSError as e:
        raise WeightsUnavailable(f"cannot write the converted model to {str(target)!r} ({e.strerror}); "
                                 f"set LOOKOUT_CACHE to a writable folder") from None
    return weights


def load_weights(name_or_path: str | Path) -> DetectorWeights:
    """Weights for a registry name (float SSDLite family), a Lookout checkpoint (.pt), or a frozen
    graph (.pb/.tar.gz)."""
    name = str(name_or_path)
    info = MODELS.get(name)
    if info is not None and info.family == "ssdlite-graph":
        if info.weights == "embedded":
            return DetectorWeights.load(info.asset)
        return downloaded_weights(info)
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
        from detector.runtime.quant_detector import FORMAT
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
                 preprocessing: Preprocessing = Preprocessing(), bundle: tuple | None = None,
                 throughput: bool = False):
        mode = select_mode(device.type, mode, "detector")
        self._spin = not throughput  # ONNX Runtime mode: see backend.ort_session
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
        """The forward callable for ``mode`` (see detector.runtime.torch_modes). ``bundle``: an exported graph
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
            return OnnxRuntimeModel(fused, example, spin=self._spin)
        if bundle is not None:  # a valid exported graph already exists: no export
            return OnnxRuntimeModel(fused, example, cache=bundle[0], spin=self._spin)
        net = OnnxRuntimeModel(fused, example, cache=bundle_paths(cache_key)[0], spin=self._spin)
        # What a later start needs to run this graph without torch (see onnx_detector).
        save_bundle_meta(cache_key, self.labels, self.preprocessing, self.postprocessor)
        return net

    @classmethod
    def load(cls, name_or_path: str | Path = DEFAULT_MODEL, device: str = "auto",
             score_threshold: float = 0.3, iou_threshold: float = 0.6, half: bool = False,
             mode: str = DEFAULT_MODE, int8: bool | str | Path = False) -> "DetectorCore":
        """A detector by registry name (``models.registry``) or path, as the fastest exact runtime
        (see ``runtime.loader.load_detector``, which this is; ``int8`` there)."""
        from detector.runtime.loader import load_detector
        return load_detector(name_or_path, device, score_threshold, iou_threshold, half, mode, int8)

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


def build_detector(name_or_path, device: str, score_threshold: float, iou_threshold: float, half: bool,
                   mode: str, throughput: bool = False) -> DetectorCore:
    """The torch-side loader (``runtime.loader.load_detector`` calls it when the torch-free path
    does not apply): quantised TFLite SSDs as ``QuantizedDetector`` (integer-exact; ``half`` does not
    apply), the float SSDLite family as ``Detector`` in ``mode``; ``throughput`` as there."""
    dev = torch.device(device_name(device))
    quant = quantized_source(name_or_path)
    if quant is not None:
        from detector.runtime.quant_detector import QuantizedDetector
        return QuantizedDetector.load(quant, dev, display_name(name_or_path), score_threshold, iou_threshold, mode,
                                      throughput)
    weights = load_weights(name_or_path)
    model = weights.build()
    ckpt = checkpoint_file(name_or_path)
    key = file_key(ckpt) if ckpt else weights.digest()
    bundle = find_bundle(ckpt, key) if ckpt and mode in ("auto", "onnxruntime") else None
    return Detector(model, weights.labels, dev, weights.preprocessing.size, display_name(name_or_path),
                    score_threshold, iou_threshold, half=half, mode=mode, cache_key=key,
                    preprocessing=weights.preprocessing, bundle=bundle, throughput=throughput)


def write_onnx_bundle(ckpt: str | Path) -> tuple[Path, Path]:
    """Export checkpoint ``ckpt``'s ONNX Runtime bundle beside it (NAME.onnx, NAME.onnx.npz), so
    that even the first start needs no torch (see onnx_detector). Returns the two paths."""
    from detector.runtime.onnx_detector import beside_paths
    from detector.runtime.torch_modes import export_onnx
    ckpt = Path(ckpt)
    det = Detector.load(ckpt, device="cpu", mode="eager")
    data = export_onnx(fold_batchnorm(det.model), torch.zeros(1, 3, *det.input_size))
    onnx_path, meta_path = beside_paths(ckpt)
    replace_bytes(onnx_path, data)
    save_bundle_meta(file_key(ckpt), det.labels, det.preprocessing, det.postprocessor, meta=meta_path)
    if not meta_path.is_file():
        raise ValueError(f"could not write {meta_path}")
    return onnx_path, meta_path
