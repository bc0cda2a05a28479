"""Appearance vectors of boxes for the tracker's re-identification, from the backbone Lookout
already ships: the first 7 inverted-residual blocks of the embedded quantised SSD-MobileNetV2
(``assets/ssd_mobilenetv2_coco.onnx``, integer kernels, so the same numbers on every CPU), beside
a colour histogram of the same crop.

    embed = Appearance.shared()
    vectors = embed(bgr, xyxy)     # (N, 512) float32, unit length; (0, 512) for no boxes

Each box, less 15 % of its width at each side and 5 % of its height at top and bottom (a detector's
box holds background and the edges of neighbours), is resized to 64 x 32 (height x width: a
standing person's shape); all crops go through the truncated graph in one call. Its stride-8
feature map (192 channels, 8 x 4 cells) is averaged over the upper and the lower half of the crop
(clothes above and below the waist differ more between people than within one), each 192-vector
less its own mean; the histogram counts hue x saturation x value (8 x 4 x 2 bins, square-rooted)
in the same two halves. Both parts are unit vectors weighted equally, so the cosine similarity of
two vectors is the mean of the two parts'. A track keeps one (float16 in ``Tracker``: 1 KB).
How well it tells a person from the people near them: docs/tracking.md (``tools/reid_auc.py``).
"""
from __future__ import annotations

import math
import threading

import cv2
import numpy as np

from detector.models.registry import ASSETS
from detector.runtime.onnx.session import plain_ort_session

CROP_HW = (64, 32)
FEATURE = "t206"     # block 7's expansion (192 channels, stride 8) in the embedded graph
HSV_BINS = (8, 4, 2)  # hue x saturation x value
HIST_DIM = 2 * math.prod(HSV_BINS)  # two halves
DIM = 2 * 192 + HIST_DIM
TRIM = (0.15, 0.05)   # of the box's width at each side, of its height at top and bottom


def _truncated_graph(path) -> bytes:
    """The embedded detector's graph from its input to ``FEATURE``, with a free input height and width."""
    import onnx
    from onnx.utils import Extractor
    model = onnx.shape_inference.infer_shapes(onnx.load(str(path)))
    sub = Extractor(model).extract_model(["images"], [FEATURE])
    for dim, name in zip(sub.graph.input[0].type.tensor_type.shape.dim[2:], ("h", "w")):
        dim.ClearField("dim_value")
        dim.dim_param = name
    del sub.graph.value_info[:]  # the 300 x 300 shapes inferred above no longer hold
    sub.graph.output[0].type.tensor_type.ClearField("shape")  # ONNX Runtime warns when a given shape differs
    return sub.SerializeToString()


class Appearance:
    """A callable ``(bgr (H, W, 3) uint8, xyxy (N, 4) pixels) -> (N, DIM) float32`` unit vectors.
    Thread-safe; one ONNX Runtime thread (it runs beside the detector, on the stream's thread)."""

    _shared: "Appearance | None" = None
    _shared_lock = threading.Lock()

    def __init__(self, graph_path=None):
        self.session = plain_ort_session(_truncated_graph(graph_path or ASSETS / "ssd_mobilenetv2_coco.onnx"),
                                         threads=1, spin=False)
        self._lock = threading.Lock()

    @classmethod
    def shared(cls) -> "Appearance":
        """One embedder a process: every stream's tracker calls the same session."""
        with cls._shared_lock:
            if cls._shared is None:
                cls._shared = cls()
            return cls._shared

    def crops(self, bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        """(N, 64, 32, 3) uint8 BGR: each box cut from the frame (clipped to it, at least 2 x 2
        pixels) and resized."""
        h, w = bgr.shape[:2]
        oh, ow = CROP_HW
        out = np.empty((len(xyxy), oh, ow, 3), np.uint8)
        for k, (x1, y1, x2, y2) in enumerate(np.asarray(xyxy, np.float64)):
            x1, y1 = int(np.clip(np.floor(x1), 0, w - 2)), int(np.clip(np.floor(y1), 0, h - 2))
            x2, y2 = int(np.clip(np.ceil(x2), x1 + 2, w)), int(np.clip(np.ceil(y2), y1 + 2, h))
            cv2.resize(bgr[y1:y2, x1:x2], (ow, oh), dst=out[k], interpolation=cv2.INTER_AREA)
        return out

    def __call__(self, bgr: np.ndarray, xyxy: np.ndarray) -> np.ndarray:
        if not len(xyxy):
            return np.zeros((0, DIM), np.float32)
        crops = self.crops(bgr, _inner(xyxy))
        x = crops[..., ::-1].transpose(0, 3, 1, 2).astype(np.float32) - 128.0  # RGB - 128: the graph's input
        with self._lock:
            fmap = self.session.run(None, {"images": x})[0].astype(np.float32)  # (N, 192, 8, 4) uint8 codes
        half = fmap.shape[2] // 2
        net = np.concatenate([fmap[:, :, :half].mean(axis=(2, 3)), fmap[:, :, half:].mean(axis=(2, 3))], axis=1)
        # less the mean: the codes' zero point is an offset common to every channel, and without
        # it every pair of boxes looks alike (cosine ~1)
        net -= net.mean(axis=1, keepdims=True)
        rows = CROP_HW[0] // 2
        hist = np.empty((len(crops), HIST_DIM), np.float32)
        part = math.prod(HSV_BINS)
        for k, crop in enumerate(crops):
            hsv = cv2.cvtColor(crop, cv2.COLOR_BGR2HSV)
            for p, pixels in enumerate((hsv[:rows], hsv[rows:])):
                hist[k, p * part:(p + 1) * part] = cv2.calcHist([pixels], [0, 1, 2], None, list(HSV_BINS),
                                                                [0, 180, 0, 256, 0, 256]).ravel()
        return np.concatenate([_unit(net), _unit(np.sqrt(hist))], axis=1) * np.float32(np.sqrt(0.5))


def _inner(xyxy: np.ndarray) -> np.ndarray:
    """The boxes (N, 4) less ``TRIM`` of their width on each side and of their height at the top and
    bottom: a detector's box holds background and neighbours' edges at its sides."""
    b = np.asarray(xyxy, np.float64).copy()
    dx, dy = (b[:, 2] - b[:, 0]) * TRIM[0], (b[:, 3] - b[:, 1]) * TRIM[1]
    b[:, 0] += dx
    b[:, 2] -= dx
    b[:, 1] += dy
    b[:, 3] -= dy
    return b


def _unit(v: np.ndarray) -> np.ndarray:
    return (v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-6)).astype(np.float32)
