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

from detector.runtime.host import tune_process

tune_process()

import argparse
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

from detector.models.registry import MODELS
from detector.ops.agreement import agreement
from detector.models.bundle import read_bundle
from detector.runtime.onnx.detector import OnnxDetector
from detector.runtime.onnx.int8 import quantize_graph

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


def quantise(fp32: Path, out: Path, det: OnnxDetector, calib: list[np.ndarray], variant: str) -> None:
    """``variant``: FORMAT-GRANULARITY[-METHOD][-fpheads][-full][-u8]: qdq|qop, pc (per channel) | pt (per
    tensor), minmax (default) | entropy | percentile, fpheads keeps the 12 predictor convs in float,
    full: 8-bit weights (no reduce_range), u8: uint8 weights (u8 x u8 kernels, no saturation).
    ``qop-pc-full`` is what ``--int8`` ships (``int8_detector.RECIPE``)."""
    import onnx
    pre = det.preprocessing
    parts = variant.split("-")
    method = next((p for p in parts[2:] if p in ("entropy", "percentile")), "minmax")
    exclude = ()
    if "fpheads" in parts:
        exclude = tuple(n.name for n in onnx.load(str(fp32)).graph.node
                        if n.op_type == "Conv" and n.name.startswith("/head/") and n.name.endswith(".1/Conv"))
    quantize_graph(fp32, out, [det.resize.numpy(f, pre.scale, pre.offset)[None] for f in calib],
                   qdq=parts[0] == "qdq", per_channel=parts[1] == "pc", reduce_range="full" not in parts,
                   uint8_weights="u8" in parts, method=method, exclude=exclude)


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
    ap.add_argument("--variants", default="qop-pc-full,qop-pc,qdq-pt")
    args = ap.parse_args()
    ckpt = MODELS["ssdlite-mobilenetv2-person"].asset
    onnx_path = MODELS["ssdlite-mobilenetv2-person"].bundle
    fp32 = OnnxDetector(onnx_path, read_bundle(onnx_path)[1], "person fp32")
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
            f = agreement([fp32.detect(x) for x in vtest10], [dets[v].detect(x) for x in vtest10])
            print(f"{v}: quantised in {time.perf_counter() - t:.1f} s on {len(calib)} demo frames; "
                  f"vs fp32 on {f['frames']} vtest frames: recall {f['recall']:.3f}, precision {f['precision']:.3f}, "
                  f"boxes {f['candidate_boxes']} vs {f['reference_boxes']}, "
                  f"mean |score diff| {f['mean_score_diff']:.4f}", flush=True)
        speed = time_interleaved(dets, timing)
    for k, v in speed.items():
        print(f"{k}: full path median {v:.2f} ms ({v / speed['fp32']:.2f}x fp32)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
