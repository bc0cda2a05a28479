"""Opt-in int8 for the float SSDLite detectors (``--int8``): ONNX Runtime's static quantisation of
the exported float graph, calibrated on frames the user gives (or the demo clip), kept in the cache.

The recipe (``RECIPE``): QOperator graph, per-channel int8 weights over the full 8 bits, uint8
activations, min-max calibration on up to 60 frames spread over the calibration source. Measured
against the fp32 detector on every 10th vtest.avi frame (80 frames, 385 fp32 boxes;
``python tools/int8_eval.py``): recall 0.977 and precision 0.974 at IoU >= 0.5, mean score change
0.028, full path 0.65x fp32's time, on the 2-core AVX512-VNNI benchmark machine.

Only where int8 dot products accumulate in int32 (VNNI): without it ORT's u8 x s8 kernels add
pairs of products in saturating int16, and the same graph found 91 % of the fp32 boxes (7-bit
weights, which avoid that, 94 %: below the 95 % bar). There ``--int8`` is refused with that reason.
"""
from __future__ import annotations

import functools
import hashlib
import tempfile
from pathlib import Path

import numpy as np

from detector.models.registry import ASSETS, family
from detector.runtime.host import has_vnni, ort_installed
from detector.runtime.onnx.detector import OnnxDetector
from detector.runtime.options import LoadOptions
from detector.util.download import cache_dir
from detector.util.files import keep_cache_file

RECIPE = "qoperator, per-channel int8 weights (8 bits), uint8 activations, min-max"
CALIBRATION_FRAMES = 60
DEMO_CLIP = ASSETS / "demo_vtest.mp4"


def int8_refusal(name_or_path, device: str = "cpu", half: bool = False, mode: str = "auto") -> str | None:
    """Why ``--int8`` can't be had for this model here (one line with what to do), or None. Cheap:
    the command line asks before anything heavy loads; the engine (for the window's model swaps) and
    the loader ask again, and get that answer: it is decided once a process for each model and
    setting (it depends on them, the file kind and this machine's CPU and packages only)."""
    return _decide(str(name_or_path), str(device), bool(half), str(mode))


@functools.lru_cache(maxsize=64)
def _decide(name: str, device: str, half: bool, mode: str) -> str | None:
    if half or mode != "auto":
        return "--int8 is its own runtime (ONNX Runtime int8 on the CPU): drop --half / --backend"
    if str(device) not in ("auto", "cpu"):
        return "--int8 runs on the CPU (ONNX Runtime's int8 kernels): drop --device or use --device cpu"
    if family(name) == "tflite-ssd":
        if Path(name).suffix == ".tflite":
            return f"--int8 is for the float SSDLite models; {Path(name).name} is a TFLite model (drop --int8)"
        return (f"--int8 is for the float SSDLite models; {name} is already integer "
                f"(drop --int8, or use --model ssdlite-mobilenetv2-person)")
    if not ort_installed():
        return "--int8 needs ONNX Runtime and onnx (Lookout's own dependencies): pip install onnxruntime onnx"
    if not has_vnni():
        return ("--int8 needs a CPU with VNNI (AVX512-VNNI or AVX-VNNI): without it ONNX Runtime's int8 "
                "kernels saturate and the int8 model found only 91% of the float model's boxes; run without --int8")
    return None


def calibration_frames(spec: str | Path | None, limit: int = CALIBRATION_FRAMES) -> list[np.ndarray]:
    """Up to ``limit`` BGR frames spread evenly over a video, an image, a folder or glob of images
    (None: the demo clip). SourceError (a ValueError) naming the problem when nothing can be read."""
    from detector.io.sources import SourceError, open_source
    source = open_source(str(spec or DEMO_CLIP))
    try:
        # spread over at most the first 50 * limit frames: a long recording is not decoded whole
        step = max(1, min(source.total or limit, 50 * limit) // limit)
        frames: list[np.ndarray] = []
        while len(frames) < limit:
            raw = source.read()
            if raw is None:
                break
            if raw.index % step == 0:
                frames.append(raw.image)
    finally:
        source.close()
    if not frames:
        raise SourceError(f"no frames to calibrate --int8 on in {str(spec)!r}: expected a video, image or folder")
    return frames


def quantize_graph(fp32: Path, out: Path, inputs: list[np.ndarray], *, qdq: bool = False, per_channel: bool = True,
                   reduce_range: bool = False, uint8_weights: bool = False, method: str = "minmax",
                   exclude: tuple[str, ...] = ()) -> None:
    """Write ``out``: ONNX Runtime's static quantisation of the float graph ``fp32`` calibrated on
    ``inputs`` (each (1, 3, H, W) float32, the graph's "images"). The defaults are ``RECIPE``; the
    rest are there for ``tools/int8_eval.py``'s comparisons."""
    from onnxruntime.quantization import (CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Reader(CalibrationDataReader):
        def __init__(self):
            self.it = iter([{"images": x} for x in inputs])

        def get_next(self):
            return next(self.it, None)

    methods = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
               "percentile": CalibrationMethod.Percentile}
    with tempfile.TemporaryDirectory() as d:
        prepped = Path(d) / "pre.onnx"
        quant_pre_process(str(fp32), str(prepped), skip_symbolic_shape=True)
        quantize_static(str(prepped), str(out), Reader(),
                        quant_format=QuantFormat.QDQ if qdq else QuantFormat.QOperator, per_channel=per_channel,
                        activation_type=QuantType.QUInt8,
                        weight_type=QuantType.QUInt8 if uint8_weights else QuantType.QInt8,
                        reduce_range=reduce_range, calibrate_method=methods[method], nodes_to_exclude=list(exclude))


def int8_detector(fp32: OnnxDetector, options: LoadOptions) -> OnnxDetector:
    """The float SSDLite ``fp32`` (its ONNX Runtime bundle, which the loader hands over) as an int8
    ``OnnxDetector`` (mode "onnxruntime-int8"), quantised on first use with frames from
    ``options.int8_calibration`` (None: the demo clip) and kept in the cache under the float graph's
    bytes, the frames' bytes, ORT's version and the recipe. The loader asks ``int8_refusal`` first;
    ValueError (one line) when the model turns out not to be a float SSDLite."""
    if fp32.preprocessing.resize != "tf_bilinear":
        raise ValueError(f"--int8 is for the float SSDLite models; {fp32.name} is not one")
    frames = calibration_frames(options.int8_calibration)
    pre = fp32.preprocessing
    inputs = [fp32.resize.numpy(f, pre.scale, pre.offset)[None] for f in frames]
    import onnxruntime as ort
    h = hashlib.sha256(f"lookout-int8/1 {ort.__version__} {RECIPE}".encode())
    h.update(fp32.graph_path.read_bytes())
    for x in inputs:
        h.update(x.tobytes())
    path = cache_dir() / "onnx" / f"{h.hexdigest()[:16]}.int8.onnx"
    with tempfile.TemporaryDirectory() as d:
        graph = path
        if not path.is_file():
            graph = Path(d) / "int8.onnx"
            quantize_graph(fp32.graph_path, graph, inputs)
            keep_cache_file(path, graph.read_bytes())  # a read-only cache: run from the temporary copy
        det = OnnxDetector(graph, fp32.card, f"{fp32.name} int8", options, mode="onnxruntime-int8")  # reads it here
    report = path.with_name(f"{path.stem}.agreement-{options.score_threshold:.2f}.json")
    det.int8_agreement = _calibration_agreement(report, fp32, det, frames)
    return det


def _calibration_agreement(report: Path, fp32, int8, frames: list[np.ndarray]) -> dict:
    """``ops.agreement`` of the int8 detector with the float one on the calibration frames (at the
    detectors' score threshold), computed once and kept beside the graph. In-sample, so a floor for
    trouble (too few or too alike frames), not a held-out measure: see the module docstring for that."""
    import json
    try:
        return json.loads(report.read_text())
    except (OSError, ValueError):
        pass
    from detector.ops.agreement import agreement
    result = agreement([fp32.detect(f) for f in frames], [int8.detect(f) for f in frames])
    keep_cache_file(report, json.dumps(result).encode())
    return result


def agreement_line(a: dict) -> str:
    """The one line a run prints about its int8 model."""
    if not a.get("reference_boxes"):
        return (f"lookout: --int8: the float model found nothing on the {a.get('frames', 0)} calibration frames, "
                f"so int8's fidelity on them is unknown; calibrate on frames of your scenes (--int8-calibration)")
    n = a["frames"]
    line = (f"lookout: --int8: on its {n} calibration frame{'s' if n != 1 else ''} the int8 model finds "
            f"{a['recall']:.1%} of the float model's {a['reference_boxes']} boxes (precision {a['precision']:.1%}, "
            f"scores within {a['mean_score_diff'] or 0:.3f} on average)")
    if n < 20:
        line += f"; {n} frame{'s are' if n != 1 else ' is'} too few to calibrate on: give a video or 20+ images of your scenes"
    elif a["recall"] < 0.95:
        line += "; below 95%: calibrate on more, or more varied, frames of your scenes, or run without --int8"
    return line
