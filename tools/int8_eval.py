"""Would an int8 SSDLite be worth shipping? Quantise the float person detector's ONNX graph with ONNX
Runtime's static quantisation, calibrated on demo-clip frames, and measure it against the fp32
detector side by side: fidelity on every 10th vtest.avi frame (recall and precision of the fp32
detections at IoU >= 0.5, mean score difference of matched boxes) and full-path speed on the same
100 frames, interleaved.

usage: python tools/int8_eval.py [--calib 64] [--frames 100] [--variants qdq-pc,qop-pc,...]
Not a test: numbers for people to read. Needs ../shared (vtest.avi).
"""
from __future__ import annotations

import os

from detector.runtime.cpu_tuning import tune_process

tune_process()

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from detector.models.registry import MODELS
from detector.runtime.onnx_detector import OnnxDetector, beside_paths, file_key, read_meta

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LOOKOUT_SHARED", ROOT.parent / "shared"))


def read_frames(path: Path, every: int = 1, limit: int = 0) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(path))
    out, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok or (limit and len(out) >= limit):
            break
        if i % every == 0:
            out.append(f)
        i += 1
    cap.release()
    return out


def iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(N, M) IoU of xyxy boxes."""
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.prod(np.clip(rb - lt, 0, None), axis=2)
    area = lambda x: np.prod(x[:, 2:] - x[:, :2], axis=1)  # noqa: E731
    return inter / (area(a)[:, None] + area(b)[None, :] - inter + 1e-9)


def fidelity(ref: OnnxDetector, test: OnnxDetector, frames: list[np.ndarray]) -> dict:
    """Greedy one-to-one matching per frame and class at IoU >= 0.5."""
    n_ref = n_test = matched = 0
    diffs = []
    for f in frames:
        a, b = ref.detect(f), test.detect(f)
        n_ref, n_test = n_ref + len(a), n_test + len(b)
        if not len(a) or not len(b):
            continue
        m = iou(a.xyxy, b.xyxy) * (a.class_ids[:, None] == b.class_ids[None, :])
        used = set()
        for i in np.argsort(-a.scores):
            j = int(np.argmax(np.where([k in used for k in range(len(b))], -1, m[i])))
            if m[i, j] >= 0.5 and j not in used:
                used.add(j)
                matched += 1
                diffs.append(abs(float(a.scores[i]) - float(b.scores[j])))
    return {"frames": len(frames), "fp32_boxes": n_ref, "int8_boxes": n_test,
            "recall": matched / max(n_ref, 1), "precision": matched / max(n_test, 1),
            "mean_score_diff": float(np.mean(diffs)) if diffs else None}


def quantise(fp32: Path, out: Path, det: OnnxDetector, calib: list[np.ndarray], variant: str) -> None:
    """``variant``: FORMAT-GRANULARITY[-METHOD][-fpheads][-full][-u8]: qdq|qop, pc (per channel) | pt (per
    tensor), minmax (default) | entropy | percentile, fpheads keeps the 12 predictor convs in float,
    full: 8-bit weights (no reduce_range), u8: uint8 weights (u8 x u8 kernels, no saturation)."""
    import onnx
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process
    pre = det.preprocessing

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"images": det.resize.numpy(f, pre.scale, pre.offset)[None]} for f in calib])

        def get_next(self):
            return next(self.it, None)

    prepped = out.with_suffix(".pre.onnx")
    quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
    parts = variant.split("-")
    method = {"entropy": CalibrationMethod.Entropy, "percentile": CalibrationMethod.Percentile}.get(
        next((p for p in parts[2:] if p in ("entropy", "percentile")), "minmax"), CalibrationMethod.MinMax)
    exclude = []
    if "fpheads" in parts:
        exclude = [n.name for n in onnx.load(str(prepped)).graph.node
                   if n.op_type == "Conv" and n.name.startswith("/head/") and n.name.endswith(".1/Conv")]
    quantize_static(str(prepped), str(out), Reader(),
                    quant_format=QuantFormat.QDQ if parts[0] == "qdq" else QuantFormat.QOperator,
                    per_channel=parts[1] == "pc", activation_type=QuantType.QUInt8,
                    weight_type=QuantType.QUInt8 if "u8" in parts else QuantType.QInt8,
                    # AVX2 without VNNI: 7-bit s8 weights avoid vpmaddubsw saturation ("full": 8 bits)
                    reduce_range="full" not in parts,
                    calibrate_method=method, nodes_to_exclude=exclude)


def time_interleaved(dets: dict[str, OnnxDetector], frames: list[np.ndarray], warmup: int = 10) -> dict:
    ms = {k: [] for k in dets}
    for f in frames[:warmup]:
        for d in dets.values():
            d.detect(f)
    for f in frames:
        for k, d in dets.items():
            t = time.perf_counter()
            d.detect(f)
            ms[k].append((time.perf_counter() - t) * 1000)
    return {k: float(np.median(v)) for k, v in ms.items()}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--calib", type=int, default=64, help="demo-clip frames to calibrate on")
    ap.add_argument("--frames", type=int, default=100, help="vtest frames to time")
    ap.add_argument("--variants", default="qdq-pc,qop-pc,qdq-pt")
    args = ap.parse_args()
    ckpt = MODELS["ssdlite-mobilenetv2-person"].asset
    onnx_path, meta_path = beside_paths(ckpt)
    meta = read_meta(meta_path, file_key(ckpt))
    fp32 = OnnxDetector(onnx_path, meta, "person fp32")
    calib = read_frames(ROOT / "assets" / "demo_vtest.mp4", every=max(1, 60 // args.calib))[: args.calib]
    vtest10 = read_frames(SHARED / "media" / "vtest.avi", every=10)
    timing = read_frames(SHARED / "media" / "vtest.avi", limit=args.frames)
    dets = {"fp32": fp32}
    with tempfile.TemporaryDirectory() as d:
        for v in args.variants.split(","):
            out = Path(d) / f"{v}.onnx"
            t = time.perf_counter()
            quantise(onnx_path, out, fp32, calib, v)
            dets[v] = OnnxDetector(out, meta, f"person int8 {v}")
            f = fidelity(fp32, dets[v], vtest10)
            print(f"{v}: quantised in {time.perf_counter() - t:.1f} s on {len(calib)} demo frames; "
                  f"vs fp32 on {f['frames']} vtest frames: recall {f['recall']:.3f}, precision {f['precision']:.3f}, "
                  f"boxes {f['int8_boxes']} vs {f['fp32_boxes']}, mean |score diff| {f['mean_score_diff']:.4f}",
                  flush=True)
        speed = time_interleaved(dets, timing)
    for k, v in speed.items():
        print(f"{k}: full path median {v:.2f} ms ({v / speed['fp32']:.2f}x fp32)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
