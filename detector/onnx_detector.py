"""The detector started without torch: Lookout's exported graph in ONNX Runtime, from the cache.

``Detector.load(mode="onnxruntime")`` (the CPU default when ONNX Runtime is installed) exports the
model once and keeps a bundle in the cache, keyed by the checkpoint file's bytes:
``KEY.onnx`` (the network) and ``KEY.npz`` (labels, preprocessing and the postprocessing's
settings: anchors and box-coder scales, and for TFLite SSDs the op's grids and limits).
Later starts load that bundle here without importing torch, which alone takes about 2.5 s on the
benchmark machine, and compute the same numbers: same graph, same NumPy pre- and postprocessing.
A bundle may also ship beside its checkpoint (``NAME.onnx`` + ``NAME.onnx.npz``, as the embedded
model's does), used when its recorded key is the checkpoint's: the first run is fast too.
"""
from __future__ import annotations

import hashlib
import importlib.util
import os
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .box_coder import FasterRcnnBoxCoder
from .detector_core import DetectorCore
from .hub import cache_dir, checkpoint_file, display_name
from .postprocess import GraphPostprocess
from .preprocess import Preprocessing
from .tflite_postprocess import TFLiteSSDPostprocess

BUNDLE_FORMAT = "lookout-onnx-bundle/2"  # /2: TF SAME pads folded into the convs


def file_key(path: Path) -> str:
    """Cache key of a checkpoint: its bytes and the bundle format (a new export when either changes)."""
    h = hashlib.sha256(BUNDLE_FORMAT.encode())
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()[:16]


def bundle_paths(key: str) -> tuple[Path, Path]:
    folder = cache_dir() / "onnx"
    return folder / f"{key}.onnx", folder / f"{key}.npz"


def beside_paths(ckpt: Path) -> tuple[Path, Path]:
    """Where a bundle shipped with a checkpoint lives: NAME.onnx and NAME.onnx.npz."""
    return ckpt.with_suffix(".onnx"), ckpt.with_suffix(".onnx.npz")


def read_meta(meta_path: Path, key: str) -> dict | None:
    """A bundle's metadata if it is of this format and was made from the checkpoint ``key`` names."""
    try:
        with np.load(meta_path, allow_pickle=False) as z:
            meta = {k: z[k] for k in z.files}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        return None  # damaged: the torch path rebuilds the cached one
    if str(meta.get("format")) != BUNDLE_FORMAT or str(meta.get("key")) != key:
        return None
    return meta


def find_bundle(ckpt: Path, key: str | None = None) -> tuple[Path, dict] | None:
    """(graph path, metadata) of a valid bundle for checkpoint ``ckpt`` (whose ``file_key`` is ``key``):
    the cache's, else one beside it."""
    key = key or file_key(ckpt)
    for onnx_path, meta_path in (bundle_paths(key), beside_paths(ckpt)):
        if onnx_path.is_file() and meta_path.is_file():
            meta = read_meta(meta_path, key)
            if meta is not None:
                return onnx_path, meta
    return None


def postprocess_meta(postprocessor) -> dict:
    """What a bundle keeps of a model's postprocessor (``postprocessor_from_meta`` rebuilds it)."""
    if isinstance(postprocessor, TFLiteSSDPostprocess):
        p = postprocessor
        return {"kind": np.array("tflite_ssd"), "anchors": np.asarray(p.anchors, np.float32),
                "box_scales": np.array(p.scales, np.float64), "box_grid": np.array(p.box_grid, np.float64),
                "logit_grid": np.array(p.logit_grid, np.float64), "score_grid": np.array(p.score_grid, np.float64),
                "op_score_threshold": np.float64(p.score_threshold), "max_detections": np.int64(p.max_detections)}
    return {"kind": np.array("graph"), "anchors": np.asarray(postprocessor.anchors, np.float32),
            "box_scales": np.array(postprocessor.box_coder.scale_factors, np.float64)}


def postprocessor_from_meta(meta: dict):
    scales = tuple(float(v) for v in meta["box_scales"])
    if str(meta.get("kind", "graph")) == "tflite_ssd":
        grid = lambda k: tuple(float(v) for v in meta[k])  # noqa: E731
        return TFLiteSSDPostprocess(meta["anchors"], scales, grid("box_grid"), grid("logit_grid"), grid("score_grid"),
                                    float(meta["op_score_threshold"]), int(meta["max_detections"]))
    return GraphPostprocess(meta["anchors"], FasterRcnnBoxCoder(scales))


def save_bundle_meta(key: str, labels: tuple[str, ...], preprocessing: Preprocessing, postprocessor,
                     meta: Path | None = None) -> None:
    """Write the metadata beside KEY.onnx in the cache (or at ``meta``), atomically; a read-only
    cache only costs torch's import later."""
    meta = meta or bundle_paths(key)[1]
    try:
        meta.parent.mkdir(parents=True, exist_ok=True)
        tmp = meta.with_name(meta.name + ".part")
        with open(tmp, "wb") as f:
            np.savez(f, format=np.array(BUNDLE_FORMAT), key=np.array(key), labels=np.array(labels),
                     size=np.array(preprocessing.size, np.int64), scale=np.float64(preprocessing.scale),
                     offset=np.float64(preprocessing.offset), resize=np.array(preprocessing.resize),
                     **postprocess_meta(postprocessor))
        os.replace(tmp, meta)
    except OSError:
        pass


def physical_cores() -> int:
    """Physical cores this process may use (as ORT and torch count them for their defaults)."""
    try:
        cores, ids = set(), set()
        for block in Path("/proc/cpuinfo").read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
            fields = {k.strip(): v.strip() for k, v in fields.items()}
            if "processor" in fields:
                ids.add(int(fields["processor"]))
                cores.add((fields.get("physical id"), fields.get("core id", fields["processor"])))
        allowed = os.sched_getaffinity(0)
        return len(cores) if ids <= allowed else len(allowed)
    except (OSError, ValueError, AttributeError):
        return os.cpu_count() or 1


def ort_session(model: bytes, threads: int = 0):
    """An ONNX Runtime CPU session with every graph optimisation, workers that sleep when idle;
    ``threads`` 0 = ORT's default (one per physical core, as torch picks)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("the onnxruntime backend needs ONNX Runtime: pip install 'lookout[fast]'") from None
    opts = ort.SessionOptions()
    # ORT's own default (0: one thread per physical core) pins its workers to cores; an explicit count
    # leaves them unpinned, and they woke up cold between frames: at 10 fps a frame took 32-33 ms
    # instead of 21-22 ms (the same 2 threads, A/B on the 2-core benchmark machine).
    opts.intra_op_num_threads = 0 if threads == physical_cores() else threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # Idle workers sleep instead of spinning: Lookout always runs capture and output threads beside
    # the model, and spinning workers starve them. Measured on 2 cores: model alone 24.4 -> 25.6 ms a
    # frame, lossless vtest.avi -> mp4 + JSONL 32-34 -> 39-41 fps.
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])


@dataclass(frozen=True)
class HostDevice:
    """Stands in for ``torch.device("cpu")`` where torch is not loaded: same ``.type`` and ``str()``."""

    type: str = "cpu"

    def __str__(self) -> str:
        return self.type


class OnnxDetector(DetectorCore):
    """An exported detector (SSDLite-MobileNetV2's float graph, or a quantised SSD's integer graph)
    on the CPU in ONNX Runtime; no torch in the process."""

    device = HostDevice()
    half = False

    def __init__(self, onnx_path: Path, meta: dict, name: str, score_threshold: float = 0.3,
                 iou_threshold: float = 0.6):
        # torch's default thread count (OMP_NUM_THREADS, else one per physical core = ORT's 0)
        self.session = ort_session(onnx_path.read_bytes(), int(os.environ.get("OMP_NUM_THREADS") or 0))
        self.outputs = [o.name for o in self.session.get_outputs()]
        size = tuple(int(v) for v in meta["size"])
        self.preprocessing = Preprocessing(size, float(meta["scale"]), float(meta["offset"]),
                                           str(meta.get("resize", "tf_bilinear")))
        self.resize = self.preprocessing.resizer()
        super().__init__(tuple(str(v) for v in meta["labels"]), postprocessor_from_meta(meta), size, name,
                         "onnxruntime", score_threshold, iou_threshold)

    def _infer(self, images: list[np.ndarray], timings: dict | None) -> tuple[np.ndarray, np.ndarray]:
        t0 = time.perf_counter()
        pre = self.preprocessing
        planes = [self.resize.numpy(img, pre.scale, pre.offset) for img in images]
        x = planes[0][None] if len(planes) == 1 else np.stack(planes)  # batch 1: no copy
        if timings is not None:
            timings["preprocess"] = (time.perf_counter() - t0) * 1000
        with self._lock:
            enc, logits = self.session.run(self.outputs, {"images": x})
        return enc, logits


def _may_have_cuda() -> bool:
    """Whether an NVIDIA (or WSL) GPU device node exists: only then can torch see CUDA."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


def available_devices() -> list[str]:
    """"cpu", plus "cuda" where a GPU can be used, without importing torch when it is not loaded yet
    (the window lists devices on its GUI thread; importing torch there froze it ~2.5 s)."""
    import sys
    if "torch" in sys.modules:
        return ["cpu", "cuda"] if sys.modules["torch"].cuda.is_available() else ["cpu"]
    return ["cpu", "cuda"] if _may_have_cuda() else ["cpu"]


def load_cached(name_or_path, device: str = "auto", mode: str = "auto", half: bool = False,
                score_threshold: float = 0.3, iou_threshold: float = 0.6) -> OnnxDetector | None:
    """The detector ``Detector.load`` would give, from the cached bundle without torch; None when
    that choice needs torch (a GPU may be used, another mode, no bundle yet, a frozen graph)."""
    # A bad threshold is the caller's error, said here: not a reason to fall back to the torch path.
    if not 0.0 <= float(score_threshold) <= 1.0:
        raise ValueError(f"expected a score threshold in [0, 1], got {score_threshold}")
    if not 0.0 < float(iou_threshold) <= 1.0:
        raise ValueError(f"expected an NMS IoU threshold in (0, 1], got {iou_threshold}")
    if half or mode not in ("auto", "onnxruntime") or str(device) not in ("auto", "cpu"):
        return None
    if str(device) == "auto" and _may_have_cuda():
        return None
    needs = ("onnxruntime", "onnx") if mode == "auto" else ("onnxruntime",)  # as optimize.auto_mode decides
    if any(importlib.util.find_spec(m) is None for m in needs):
        return None
    ckpt = checkpoint_file(name_or_path)
    if ckpt is None:
        return None
    found = find_bundle(ckpt)
    if found is None:
        return None
    try:
        return OnnxDetector(found[0], found[1], display_name(name_or_path), score_threshold, iou_threshold)
    except (OSError, ValueError, KeyError):
        return None  # an unreadable graph: the torch path rebuilds the cached one
