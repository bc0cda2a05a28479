"""Benchmark: Lookout side by side with the reference runtimes, in one run, on the same frames.

usage: python tools/bench.py [--frames 100] [--threads 2] [--tf-python /tmp/ref/bin/python] [--repeat 3]
                                [--sections detector,classifier,pipeline,window] [--soak 10000] [--write-docs]

Each section runs in its own subprocess (so peak RSS is per section) with the same thread count.
  detector    full path (preprocess + network + decoding + NMS), batch 1, vtest.avi frames: every
              Lookout mode, ONNX Runtime (when installed) and the TF frozen graph (--tf-python)
  coco        the default COCO detector (quantised SSD-MobileNetV2), full path, batch 1, vtest.avi
              frames: Lookout's runtimes vs the TFLite interpreter on the original .tflite (XNNPACK,
              same threads; its full path = BGR->RGB, cv2.resize, invoke, read the 4 outputs)
  classifier  224x224, mobilenet_v2_1.0_224_quant: Lookout vs the TFLite interpreter (--tf-python
              with ai-edge-litert)
  pipeline    lossless vtest.avi with annotated video + JSONL written vs model-only throughput;
              live mode (demo clip played with --live): frame age at result vs detector latency
  window      the real window (offscreen), demo clip, live policy: display vs inference fps,
              frame age at display vs detector latency
  tracking    what tracking + a line + a zone add per frame at about 20 objects (the COCO model's
              vtest.avi detections at threshold 0), side by side with the detector alone
  soak        a file played --live --loop for N frames: RSS, threads and open files each 500 frames
Median and p90 over every timed call, after warm-up. ``--write-docs`` rewrites the tables in docs/speed.md.
Not a test: numbers for people to read. Needs ../shared (media, models).
"""
from __future__ import annotations

import os

from detector.runtime.host import tune_process

tune_process()  # as the lookout command starts, before torch loads

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
SHARED = Path(os.environ.get("LOOKOUT_SHARED", ROOT.parent / "shared"))
VTEST = SHARED / "media" / "vtest.avi"
DEMO = ROOT / "assets" / "demo_vtest.mp4"
PERSON_PB = SHARED / "models" / "ssdlite_mobilenet_v2_person_frozen_inference_graph.pb"
V2_TFLITE = SHARED / "models" / "mobilenet_v2_1.0_224_quant.tflite"
COCO_TFLITE = SHARED / "models" / "ssd_mobilenet_v2_coco_quant_postprocess.tflite"
LABELS = SHARED / "models" / "imagenet_labels.txt"


def load_frames(video: Path, n: int) -> list[np.ndarray]:
    cap = cv2.VideoCapture(str(video))
    frames = []
    while len(frames) < n:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    cap.release()
    if not frames:
        raise SystemExit(f"bench: cannot read frames from {video}")
    return frames


def time_calls(fn, inputs, warmup: int) -> list[float]:
    for x in inputs[:warmup]:
        fn(x)
    ms = []
    for x in inputs:
        t = time.perf_counter()
        fn(x)
        ms.append((time.perf_counter() - t) * 1000)
    return ms


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def row(name: str, ms: list[float], **extra) -> dict:
    return {"name": name, "median_ms": float(np.median(ms)), "p90_ms": float(np.percentile(ms, 90)),
            "calls": len(ms), **extra}


# ---- sections (each runs in its own process) ----------------------------------------------------
def detector_modes(device: str) -> list[str]:
    """Every mode to time on ``device``: CPU modes, or each CUDA mode in fp32 and fp16."""
    from detector.runtime.options import DETECTOR_MODES as MODES
    if device == "cpu":
        return list(MODES) + ["bundle", "int8"]
    return [f"{m}:{p}" for m in MODES if m != "onnxruntime" for p in ("fp32", "fp16")]


def _gpu_row_extra(device: str) -> dict:
    if device == "cpu":
        return {}
    return {"gpu_mem_mb": round(torch.cuda.max_memory_allocated() / 2**20, 1)}


def section_detector(args) -> list[dict]:
    frames = load_frames(VTEST, args.frames)
    rows = []
    for spec in ([args.mode] if args.mode else detector_modes(args.device)):
        mode, _, precision = spec.partition(":")
        try:
            t = time.perf_counter()
            if mode == "bundle":  # what the lookout command runs: the shipped ONNX bundle, no torch calls
                from detector.runtime.onnx.detector import load_cached
                det = load_cached("ssdlite-mobilenetv2-person", "cpu")
                if det is None:
                    raise ValueError("no ONNX Runtime bundle for the embedded model (is onnxruntime installed?)")
            elif mode == "int8":  # opt-in, not exact: refused (skipped here) on CPUs without VNNI
                from detector.runtime.loader import load_detector
                det = load_detector("ssdlite-mobilenetv2-person", "cpu", int8=True)
            else:  # the torch-side runtime in this mode (onnxruntime: the same session behind the torch model)
                from detector.runtime.loader import load_detector
                det = load_detector("ssdlite-mobilenetv2-person", args.device, half=precision == "fp16", mode=mode)
            load_s = time.perf_counter() - t
        except ValueError as e:
            print(f"bench: skipping mode {spec}: {e}", file=sys.stderr)
            continue
        ms = time_calls(det.detect, frames, args.warmup)
        name = f"Lookout {mode}" + (f" {precision} on {_device_name(args.device)}" if precision else "")
        if mode == "onnxruntime":
            name += " (ONNX Runtime, Lookout's exported model, behind the torch model)"
        if mode == "bundle":
            name = "Lookout Detector.load default: ONNX Runtime without torch (what the lookout command runs)"
        if mode == "int8":
            name = "Lookout --int8 (opt-in, not exact: 97.7% of the float boxes; ONNX Runtime int8)"
        rows.append(row(name, ms, load_s=round(load_s, 2), ref="onnxruntime" if mode == "onnxruntime" else None,
                        **_gpu_row_extra(args.device)))
    return rows


def _reference(args, kind: str, model: Path, frames: list[np.ndarray], label: str, ref: str) -> list[dict]:
    """Time a reference runtime (tools/tf_bench.py in --tf-python) on the same frames."""
    with tempfile.TemporaryDirectory() as d:
        np.save(Path(d) / "frames.npy", np.stack(frames))
        p = subprocess.run([args.tf_python, str(ROOT / "tools" / "tf_bench.py"), kind, str(model),
                            str(Path(d) / "frames.npy"), str(args.threads), str(args.warmup)],
                           capture_output=True, text=True)
    if p.returncode != 0:
        print(f"bench: {label} failed: {p.stderr.strip().splitlines()[-1:]}", file=sys.stderr)
        return []
    r = json.loads(p.stdout.strip().splitlines()[-1])
    return [row(f"{label} {r['version']} (reference; {r.get('config', '?')})", r["ms"], rss_mb=r["rss_mb"], ref=ref)]


def section_detector_tf(args) -> list[dict]:
    return _reference(args, "detector", PERSON_PB, load_frames(VTEST, args.frames), "TF frozen graph", "tf")


def section_coco(args) -> list[dict]:
    frames = load_frames(VTEST, args.frames)
    rows = []
    for mode in ("bundle", "onnxruntime", "eager") if args.device == "cpu" else ("eager",):
        t = time.perf_counter()
        if mode == "bundle":
            from detector.runtime.onnx.detector import load_cached
            det = load_cached("ssd-mobilenetv2-coco", "cpu")
        else:
            from detector.runtime.loader import load_detector
            det = load_detector("ssd-mobilenetv2-coco", args.device, mode=mode)
        load_s = time.perf_counter() - t
        ms = time_calls(det.detect, frames, args.warmup)
        name = {"bundle": "Lookout Detector.load default: ONNX Runtime without torch (integer-exact)",
                "onnxruntime": "Lookout onnxruntime behind the torch model (integer-exact)",
                "eager": f"Lookout eager (integer-exact) on {_device_name(args.device)}"}[mode]
        rows.append(row(name, ms, load_s=round(load_s, 2), **_gpu_row_extra(args.device)))
    return rows


def section_coco_tflite(args) -> list[dict]:
    return _reference(args, "tflite_detector", COCO_TFLITE, load_frames(VTEST, args.frames),
                      "TFLite interpreter, XNNPACK", "tflite")


def _classifier_inputs(n: int) -> list[np.ndarray]:
    return [cv2.resize(f, (224, 224), interpolation=cv2.INTER_LINEAR) for f in load_frames(VTEST, n)]


def section_classifier(args) -> list[dict]:
    from detector import Classifier
    frames = _classifier_inputs(args.frames)
    rows = []
    for mode in ("eager", "jit", "onnxruntime") if args.device == "cpu" else ("eager", "jit"):
        try:
            clf = Classifier.load(str(V2_TFLITE), labels=LABELS, mode=mode, device=args.device)
        except ValueError as e:
            print(f"bench: skipping classifier mode {mode}: {e}", file=sys.stderr)
            continue
        ms = time_calls(lambda f: clf.classify(f, k=5), frames, args.warmup)
        exact = "integer-exact" if args.device == "cpu" or mode == "eager" else "not integer-exact on CUDA"
        where = "" if args.device == "cpu" else f" on {_device_name(args.device)}"
        rows.append(row(f"Lookout {mode} ({exact}){where}", ms, **_gpu_row_extra(args.device)))
    return rows


def section_stages(args) -> list[dict]:
    """Where a frame's time goes on the path ``Detector.load`` / ``Classifier.load`` return (CPU):
    input checks + resize/normalise, the network (ONNX Runtime's run), and decoding + NMS +
    Detections (the classifier: softmax + top-5), median ms over the frames."""
    from detector import Classifier
    from detector.ops.preprocess import as_bgr_uint8
    from detector.runtime.loader import load_detector
    frames = load_frames(VTEST, args.frames)
    rows = []
    for name in ("ssdlite-mobilenetv2-person", "ssd-mobilenetv2-coco"):
        det = load_detector(name, "cpu")
        stages: dict[str, list[float]] = {"pre": [], "network": [], "post": [], "total": []}
        for i, f in enumerate(frames[:args.warmup] + frames):
            t0 = time.perf_counter()
            img = as_bgr_uint8(f)
            lat: dict = {}
            enc, logits = det._infer([img], lat)
            t1 = time.perf_counter()
            det.postprocessor(enc, logits, det._post, [img.shape[:2]], det.labels)
            t2 = time.perf_counter()
            if i >= args.warmup:
                pre = lat["preprocess"] / 1000
                stages["pre"].append(pre * 1000)
                stages["network"].append((t1 - t0 - pre) * 1000)
                stages["post"].append((t2 - t1) * 1000)
                stages["total"].append((t2 - t0) * 1000)
        rows.append({"name": f"{name} ({type(det).__name__}) stages",
                     **{f"{k}_ms": round(float(np.median(v)), 2) for k, v in stages.items()}})
    clf = Classifier.load(str(V2_TFLITE), labels=LABELS)
    crops = _classifier_inputs(args.frames)
    stages = {"pre": [], "network": [], "post": [], "total": []}
    for i, c in enumerate(crops[:args.warmup] + crops):
        t0 = time.perf_counter()
        x = clf._input([as_bgr_uint8(c)])
        t1 = time.perf_counter()
        logits = clf._logits(x)
        t2 = time.perf_counter()
        clf._top(clf.softmax(logits)[0], 5)
        t3 = time.perf_counter()
        if i >= args.warmup:
            for k, v in (("pre", t1 - t0), ("network", t2 - t1), ("post", t3 - t2), ("total", t3 - t0)):
                stages[k].append(v * 1000)
    rows.append({"name": f"classifier {V2_TFLITE.name} ({clf.mode}) stages",
                 **{f"{k}_ms": round(float(np.median(v)), 2) for k, v in stages.items()}})
    return rows


def section_batching(args) -> list[dict]:
    """Per-frame cost of ``detect_batch`` at batch 1, 2, 4 and 8 on the path a lossless run loads
    (CPU, ``throughput=True``: batching is for lossless runs), the same frames, batch sizes
    interleaved round by round so drift hits all alike."""
    from detector.runtime.loader import load_detector
    frames = load_frames(VTEST, max(args.frames, 8))
    n = len(frames) // 8 * 8
    rows = []
    for name in ("ssdlite-mobilenetv2-person", "ssd-mobilenetv2-coco"):
        det = load_detector(name, "cpu", throughput=True)
        det.detect_batch(frames[:8])
        per_frame: dict[int, list[float]] = {b: [] for b in (1, 2, 4, 8)}
        for start in range(0, n, 8):
            chunk = frames[start:start + 8]
            for b in per_frame:
                t = time.perf_counter()
                for i in range(0, 8, b):
                    det.detect_batch(chunk[i:i + b])
                per_frame[b].append((time.perf_counter() - t) * 1000 / 8)
        base = float(np.median(per_frame[1]))
        rows.append({"name": f"{name} ({type(det).__name__}) ms a frame by batch size",
                     **{f"batch_{b}": round(float(np.median(v)), 2) for b, v in per_frame.items()},
                     **{f"batch_{b}_vs_1": round(float(np.median(v)) / base, 3) for b, v in per_frame.items() if b > 1}})
    return rows


def section_classifier_tflite(args) -> list[dict]:
    return _reference(args, "tflite", V2_TFLITE, _classifier_inputs(args.frames), "TFLite interpreter", "tflite")


def section_pipeline(args) -> list[dict]:
    from detector import Detector
    from detector.engine.models import Models
    from detector.engine.run import RunConfig, run
    from detector.engine.config import LOSSLESS_BATCH
    det = Detector.load("ssdlite-mobilenetv2-person", device=args.device)
    frames = load_frames(VTEST, args.frames)
    ms = time_calls(det.detect, frames, args.warmup)
    groups = [frames[i:i + LOSSLESS_BATCH] for i in range(0, len(frames) - LOSSLESS_BATCH + 1, LOSSLESS_BATCH)]
    batch_ms = time_calls(det.detect_batch, groups, max(1, args.warmup // LOSSLESS_BATCH))
    fps_1, fps_b = 1000.0 / float(np.mean(ms)), 1000.0 * LOSSLESS_BATCH / float(np.mean(batch_ms))
    # the pipeline batches lossless runs: its ratio is to the faster of the model's own two rates
    model_fps = max(fps_1, fps_b)
    rows = [{"name": f"model only (detect, {len(ms)} frames)", "fps": round(fps_1, 2)},
            {"name": f"model only (detect_batch of {LOSSLESS_BATCH}, as lossless runs call it)", "fps": round(fps_b, 2)}]
    from detector.runtime.loader import load_detector
    lossless_det = load_detector("ssdlite-mobilenetv2-person", args.device, throughput=True)  # as the CLI loads it
    for codec, what in (("h264", "H.264"), ("mpeg4", "MPEG-4 Part 2")):
        with tempfile.TemporaryDirectory() as d:
            t = time.perf_counter()
            rep = run(RunConfig(source=str(VTEST), output=f"{d}/o.mp4", detections=f"{d}/o.jsonl", progress=False,
                                max_frames=args.pipeline_frames, codec=codec), models=Models(lossless_det))
            wall = time.perf_counter() - t
            mb = os.path.getsize(f"{d}/o.mp4") / 2**20
        n = rep.stats["frames"]["written"]
        rows.append({"name": f"lossless vtest.avi -> mp4 ({what}) + JSONL ({n} frames)", "fps": round(n / wall, 2),
                     "ratio_to_model": round(n / wall / model_fps, 3), "video_mb": round(mb, 2)})
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        subprocess.run([sys.executable, str(ROOT / "main.py"), "--source", str(DEMO), "--max-frames", "1",
                        "--device", args.device,
                        "--detections", f"{d}/one.jsonl", "--no-progress"], capture_output=True, cwd=ROOT)
        first = time.perf_counter() - t
    rows.append({"name": "start-up: process start to first frame written and exit (lookout command)",
                 "seconds": round(first, 2)})
    rep = run(RunConfig(source=str(DEMO), live=True, play_realtime=True, progress=False), models=Models(det))
    lat = rep.stats["latency"]
    rows.append({"name": "live demo clip (--live): frame age at result", "age_p50_ms": lat["age"]["p50_ms"],
                 "age_p95_ms": lat["age"]["p95_ms"], "detect_p50_ms": lat["detect"]["p50_ms"],
                 "age_p95_over_detect": round(lat["age"]["p95_ms"] / lat["detect"]["p50_ms"], 2),
                 "dropped": rep.stats["frames"]["dropped"]})
    return rows


def section_window(args) -> list[dict]:
    os.environ["QT_QPA_PLATFORM"] = "offscreen"
    from PyQt6.QtWidgets import QApplication

    from detector.engine.run import RunConfig
    from lookout_ui.app import build_window
    app = QApplication([])
    config = RunConfig(source=str(DEMO), loop=True)
    win, session = build_window(config)
    session.start()
    win.show()
    end = time.monotonic() + args.window_seconds
    while time.monotonic() < end:
        app.processEvents()
        time.sleep(0.002)
    s = session.stats
    infer_fps = s.rate("inferred", recent=False)
    shown = win.shown_seq
    elapsed = time.monotonic() - s.started
    age = float(np.percentile(win.display_age, 50)), float(np.percentile(win.display_age, 95))
    det50 = s.percentiles("detect")[0]
    win.close()
    return [{"name": f"window (offscreen), demo clip, live, {args.window_seconds:.0f} s",
             "inference_fps": round(infer_fps, 2), "display_fps": round(shown / elapsed, 2),
             "display_over_inference": round(shown / elapsed / infer_fps, 3) if infer_fps else None,
             "age_display_p50_ms": round(age[0], 1), "age_display_p95_ms": round(age[1], 1),
             "detect_p50_ms": round(det50, 1), "age_p50_over_detect": round(age[0] / det50, 2) if det50 else None}]


def section_tracking(args) -> list[dict]:
    from detector import Detector
    from detector.analytics.counting import Analytics, Line, Zone
    from detector.analytics.tracker import Tracker
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu", score_threshold=0.0)  # 20 boxes a frame
    frames = load_frames(VTEST, args.frames)
    dets = [det.detect(f) for f in frames]
    detect_ms = time_calls(det.detect, frames, args.warmup)
    rows = [row(f"detector alone (COCO, {np.mean([len(d) for d in dets]):.1f} boxes a frame)", detect_ms)]

    def passes(start) -> list[float]:
        """ms a frame over 5 whole passes (the tracker's cost depends on its state), warm-up dropped;
        ``start()`` gives a fresh pass's step, called with the frame's index."""
        runs = []
        for _ in range(5):
            step, ms = start(), []
            for i in range(len(frames)):
                t0 = time.perf_counter()
                step(i)
                ms.append((time.perf_counter() - t0) * 1000)
            runs += ms[args.warmup:]
        return runs

    def boxes_only(make):
        t = make()
        return (lambda i: t.update(dets[i])) if isinstance(t, Tracker) else (lambda i: t.update(dets[i], time.monotonic()))

    for name, make in (("tracker", lambda: Tracker()),
                       ("tracker + 1 line + 1 zone (Analytics)", lambda: Analytics(
                           Tracker(), [Line("l", (0.3, 0.2), (0.3, 0.8)), Zone("z", ((0.1, 0.1), (0.9, 0.1), (0.5, 0.9)))]))):
        runs = passes(lambda make=make: boxes_only(make))
        rows.append(row(name, runs, over_detector=round(float(np.median(runs)) / float(np.median(detect_ms)), 3)))
    # camera motion: measured only when the tracker is given the frames (the engine gives them)
    pan = [round(144 + 144 * np.sin(2 * np.pi * i / 20)) for i in range(len(frames))]
    crops = [f[:, x:x + 480] for f, x in zip(frames, pan)]
    crop_dets = [det.detect(c) for c in crops]

    def with_frames(images, boxes):
        t = Tracker()
        return lambda i: t.update(boxes[i], i / 10, images[i])

    for name, images, boxes in (("tracker given the frames (a fixed camera: camera motion checked twice a second)",
                                 frames, dets),
                                ("tracker given the frames, a 480 px window panning over them (a transform a frame)",
                                 crops, crop_dets)):
        runs = passes(lambda images=images, boxes=boxes: with_frames(images, boxes))
        rows.append(row(name, runs, mean_ms=round(float(np.mean(runs)), 3),
                        over_detector=round(float(np.mean(runs)) / float(np.median(detect_ms)), 3)))
    return rows


def section_encode(args) -> list[dict]:
    """Annotated vtest frames through each video writer: wall and CPU time a frame (x264 encodes on
    its own threads, so CPU time is what it takes from the model on a small machine), and size."""
    from detector.ops.draw import annotate
    from detector.models.registry import DEFAULT_MODEL
    from detector.runtime.onnx.detector import load_cached
    from detector.io.video_out import AvWriter, CvWriter
    det = load_cached(DEFAULT_MODEL, "cpu")
    frames = load_frames(VTEST, args.frames)
    frames = [annotate(f, det.detect(f)) for f in frames]
    size = (frames[0].shape[1], frames[0].shape[0])
    writers = [("OpenCV mp4v (.mp4 before this change)", ".mp4", lambda p: CvWriter(p, size, 10.0, "mp4v")),
               ("PyAV libx264 crf 23 veryfast (.mp4 default)", ".mp4", lambda p: AvWriter(p, size, 10.0, "libx264")),
               ("PyAV libx265 crf 23 veryfast (--codec hevc)", ".mp4", lambda p: AvWriter(p, size, 10.0, "libx265")),
               ("PyAV mpeg4 q 3 (--codec mpeg4)", ".mp4", lambda p: AvWriter(p, size, 10.0, "mpeg4")),
               ("OpenCV MJPG (.avi default)", ".avi", lambda p: CvWriter(p, size, 10.0, "MJPG"))]
    rows = []
    with tempfile.TemporaryDirectory() as d:
        for name, suffix, make in writers:
            path = Path(d) / f"v{len(rows)}{suffix}"
            r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
            w = make(path)
            for i, f in enumerate(frames):
                w.write(f, i / 10.0)
            w.close()
            wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
            cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
            kb = path.stat().st_size / 1024
            rows.append({"name": name, "wall_ms_per_frame": round(wall * 1000 / len(frames), 2),
                         "cpu_ms_per_frame": round(cpu * 1000 / len(frames), 2),
                         "kb_per_100_frames": round(kb * 100 / len(frames), 1),
                         "kbit_per_s_at_10fps": round(kb * 8 * 10 / len(frames), 1)})
    return rows


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def section_soak(args) -> list[dict]:
    from detector import Detector
    from detector.engine.models import Models
    from detector.engine.run import RunConfig, run
    samples = []
    stop = threading.Event()
    det = Detector.load("ssdlite-mobilenetv2-person", device="cpu")
    original = det.detect_batch
    count = [0]

    def sampled(images, timings=None):
        count[0] += 1
        if count[0] % 500 == 0:
            samples.append((count[0], round(_rss_mb(), 1), threading.active_count(), _open_fds()))
        if count[0] >= args.soak:
            stop.set()
        return original(images, timings)

    det.detect_batch = sampled
    run(RunConfig(source=str(DEMO), live=True, play_realtime=False, loop=True, progress=False), stop=stop,
        models=Models(det))
    warm = [s for s in samples if s[0] >= 1000] or samples
    growth = (warm[-1][1] - warm[0][1]) / warm[0][1] * 100 if warm else 0.0
    return [{"name": f"soak: demo clip --live --loop, {count[0]} frames", "samples": samples,
             "rss_growth_after_warmup_pct": round(growth, 2),
             "threads": sorted({s[2] for s in warm}), "open_fds": sorted({s[3] for s in warm})}]


SECTIONS = {"detector": section_detector, "detector_tf": section_detector_tf, "coco": section_coco,
            "coco_tflite": section_coco_tflite, "classifier": section_classifier,
            "classifier_tflite": section_classifier_tflite, "pipeline": section_pipeline,
            "window": section_window, "tracking": section_tracking, "encode": section_encode,
            "stages": section_stages, "batching": section_batching,
            "soak": section_soak}


# ---- driver -------------------------------------------------------------------------------------
def run_section(name: str, args, mode: str | None = None) -> list[dict]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--section", name, "--frames", str(args.frames),
           "--warmup", str(args.warmup), "--threads", str(args.threads), "--soak", str(args.soak),
           "--pipeline-frames", str(args.pipeline_frames), "--window-seconds", str(args.window_seconds)]
    if args.tf_python:
        cmd += ["--tf-python", args.tf_python]
    cmd += ["--device", args.device]
    if mode:
        cmd += ["--mode", mode]
    p = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        print(f"bench: section {name} failed:\n{p.stderr[-2000:]}", file=sys.stderr)
        return []
    return json.loads(p.stdout.strip().splitlines()[-1])


RATIO_SECTIONS = ("detector", "coco", "classifier")


def merge_runs(runs: list[list[dict]]) -> list[dict]:
    """Rows of repeated runs of one section, matched by name: the median of their medians and p90s,
    the largest RSS, and each run's median kept (``runs_ms``) for per-run ratios."""
    key = lambda r: r.get("ref") or r["name"]  # noqa: E731  (a reference's name says its config, which may vary)
    merged = []
    for r in runs[0]:
        same = [x for rows in runs for x in rows if key(x) == key(r)]
        if len(same) != len(runs):
            continue  # a row missing from a run (a failed reference): left out rather than half-measured
        m = dict(r)
        names = list(dict.fromkeys(x["name"] for x in same))
        if len(names) > 1 and all("(reference; " in n for n in names):
            head = names[0].split("(reference; ")[0]
            configs = " / ".join(n.split("(reference; ", 1)[1].rstrip(")") for n in names)
            m["name"] = f"{head}(reference; the faster config of each run: {configs})"
        m["runs_ms"] = [x["median_ms"] for x in same]
        m["median_ms"] = float(np.median(m["runs_ms"]))
        m["p90_ms"] = float(np.median([x["p90_ms"] for x in same]))
        m["rss_mb"] = max(x.get("rss_mb", 0) for x in same)
        merged.append(m)
    return merged


def _ratio(row: dict, ref: dict) -> str:
    """Ratio of medians, and with several runs the range of the per-run ratios (each run side by side)."""
    text = f"{row['median_ms'] / ref['median_ms']:.2f}x"
    if row is ref:
        return text
    runs = [a / b for a, b in zip(row.get("runs_ms", []), ref.get("runs_ms", []))]
    if len(runs) > 1:
        text += f" ({min(runs):.2f}-{max(runs):.2f})"
    return text


def summary(results: dict[str, list[dict]], machine: str) -> str:
    """The README's speed sentence, from the same rows as the tables: the default runs against their
    references (``Detector.load``'s rows)."""
    parts = []
    for section, ref, what in (("coco", "tflite", "the default COCO model"), ("detector", "tf", "the person SSDLite model")):
        rows = results.get(section, [])
        refs = {r["ref"]: r for r in rows if r.get("ref")}
        mine = next((r for r in rows if "Detector.load default" in r["name"]), None)
        if mine and ref in refs:
            name = {"tflite": "the TFLite interpreter with XNNPACK", "tf": "TensorFlow"}[ref]
            parts.append(f"{what} {mine['median_ms']:.1f} ms, {_ratio(mine, refs[ref])} {name}")
    return (f"Last benchmark table ({machine}, {time.strftime('%Y-%m-%d')}; full path a frame, each reference at its "
            f"best, median of alternating runs): " + "; ".join(parts) + ".") if parts else ""


def format_tables(results: dict[str, list[dict]], header: str) -> str:
    out = [header, ""]
    for section, refs in (("detector", ("tf", "onnxruntime")), ("coco", ("tflite",)), ("classifier", ("tflite",))):
        rows = results.get(section, [])
        if not rows:
            continue
        ref_rows = {r["ref"]: r for r in rows if r.get("ref")}
        cols = [f"vs {k}" for k in refs if k in ref_rows]
        gpu = any("gpu_mem_mb" in r for r in rows)
        cols_gpu = " peak GPU MB |" if gpu else ""
        out.append(f"| {section}: full path, batch 1 | median ms | p90 ms |" + "".join(f" {c} |" for c in cols)
                   + " peak RSS MB |" + cols_gpu)
        out.append("|---|---|---|" + "---|" * (len(cols) + 1 + gpu))
        for r in rows:
            ratios = [_ratio(r, ref_rows[k]) for k in refs if k in ref_rows]
            out.append(f"| {r['name']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} |" + "".join(f" {x} |" for x in ratios)
                       + f" {r.get('rss_mb', 0):.0f} |" + (f" {r.get('gpu_mem_mb', 0):.0f} |" if gpu else ""))
        out.append("")
    for section in ("tracking",):
        for r in results.get(section, []):
            out.append(f"- **{section}** {r['name']}: median {r['median_ms']:.2f} ms, p90 {r['p90_ms']:.2f} ms"
                       + (f" ({r['over_detector']:.3f}x the detector)" if "over_detector" in r else ""))
    for section in ("stages", "batching", "encode", "pipeline", "window", "soak"):
        for r in results.get(section, []):
            items = ", ".join(f"{k} {v}" for k, v in r.items() if k not in ("name", "samples"))
            out.append(f"- **{section}** {r['name']}: {items}")
    return "\n".join(out) + "\n"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python tools/bench.py", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=100)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    ap.add_argument("--tf-python", help="a Python with tensorflow-cpu (and ai-edge-litert) for the references")
    ap.add_argument("--sections", default="detector,coco,classifier,stages,batching,pipeline,window")
    ap.add_argument("--repeat", type=int, default=3,
                    help="runs of the detector/coco/classifier sections, references alternating (medians)")
    ap.add_argument("--pipeline-frames", type=int, default=0, help="0: all of vtest.avi")
    ap.add_argument("--window-seconds", type=float, default=20.0)
    ap.add_argument("--soak", type=int, default=10000)
    ap.add_argument("--device", default="cpu", help="cpu or cuda (CUDA times eager/fused/jit in fp32 and fp16)")
    ap.add_argument("--write-docs", action="store_true", help="write the tables into docs/speed.md (the GPU block for cuda)")
    ap.add_argument("--section", help=argparse.SUPPRESS)
    ap.add_argument("--mode", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.section:  # child process: one section, JSON on the last line
        rows = SECTIONS[args.section](args)
        for r in rows:
            r.setdefault("rss_mb", round(peak_rss_mb(), 1))
        print(json.dumps(rows))
        return 0
    if not VTEST.exists():
        sys.exit("bench: needs ../shared/media/vtest.avi (see ../shared/README.md)")
    results: dict[str, list[dict]] = {}
    for name in args.sections.split(","):
        name = name.strip()
        runs = []
        # the reference and Lookout alternate, run after run, so the machine's drift hits both alike
        for _ in range(args.repeat if name in RATIO_SECTIONS else 1):
            if name == "detector":  # one process per runtime: no thread pool left spinning from the one before
                rows = [r for mode in detector_modes(args.device) for r in run_section(name, args, mode)]
            else:
                rows = run_section(name, args)
            if args.tf_python and args.device == "cpu" and name in RATIO_SECTIONS:
                rows = run_section(name + ("_tf" if name == "detector" else "_tflite"), args) + rows
            runs.append(rows)
        results[name] = merge_runs(runs) if name in RATIO_SECTIONS else runs[0]
    gpu = f", GPU {_device_name(args.device)} (CUDA {torch.version.cuda})" if args.device != "cpu" else ""
    header = (f"Machine: {platform.machine()} {os.cpu_count()} CPUs ({_cpu_name()}){gpu}, {args.threads} threads for every "
              f"runtime; torch {torch.__version__}, opencv {cv2.__version__}, numpy {np.__version__}, "
              f"python {platform.python_version()}; {args.frames} frames of vtest.avi (768x576), warm-up {args.warmup}; "
              f"ratio sections: median of {args.repeat} alternating runs (range of the per-run ratios); "
              f"{time.strftime('%Y-%m-%d')}")
    text = format_tables(results, header)
    print(text)
    if args.write_docs:
        readme = ROOT / "docs" / "speed.md"
        s = readme.read_text()
        block = "bench" if args.device == "cpu" else "bench-gpu"
        a, b = f"<!-- {block}:start -->", f"<!-- {block}:end -->"
        if a in s and b in s:
            s = s[: s.index(a) + len(a)] + "\n" + text + s[s.index(b):]
            readme.write_text(s)
        line = summary(results, f"{os.cpu_count()} CPUs, {_cpu_name()}") if args.device == "cpu" else ""
        front = ROOT / "README.md"
        r, a, b = front.read_text(), "<!-- bench-summary:start -->", "<!-- bench-summary:end -->"
        if line and a in r and b in r:
            front.write_text(r[: r.index(a) + len(a)] + "\n" + line + "\n" + r[r.index(b):])
    return 0


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(torch.device(device)) if device != "cpu" else "CPU"


def _cpu_name() -> str:
    """The CPU's model name and its widest SIMD / int8 dot-product features (they decide which
    runtime wins: XNNPACK's int8 kernels pull ahead on VNNI)."""
    from detector.runtime.host import cpu_flags, has_vnni
    name, flags = platform.processor() or "unknown CPU", cpu_flags()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else ""
    vnni = "VNNI" if has_vnni() else "no VNNI" if simd else ""
    return ", ".join(x for x in (name, simd, vnni) if x)


if __name__ == "__main__":
    sys.exit(main())
