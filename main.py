"""Lookout's command line: the ``lookout`` script.

    lookout                                          # the window, on webcam 0
    lookout --source clip.mp4 --output out.mp4 --detections out.jsonl
    lookout --source 0 --headless --dump-dir frames/ --max-frames 100
    lookout batch recordings/ --out results/ --video      # many inputs: see batch_cli.py

Exit codes: 0 done (warnings, like skipped damaged frames, are printed); 1 the run failed part-way
(outputs written so far stay valid); 2 bad input or setup (nothing was processed); 130 stopped by
Ctrl-C / SIGTERM (outputs closed and valid).
"""
from __future__ import annotations

import argparse
import os
import signal
import sys
import threading


from detector.models.registry import CLASSIFIERS, DEFAULT_CLASSIFIER, DEFAULT_MODEL, KNOWN_MODELS  # stdlib only: no torch, no ONNX Runtime


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lookout", description="Real-time object detection on webcams and video.")
    ap.add_argument("--source", default="0",
                    help="webcam index, video file, image, folder or glob of images, or stream URL (default: 0)")
    ap.add_argument("--headless", action="store_true", help="no window, no Qt: process and write outputs only")
    ap.add_argument("--version", action="store_true", help="print the version and the runtimes found, and exit")
    ap.add_argument("--output", metavar="VIDEO", help="write the annotated video (.mp4, .mkv, .mov: H.264; .avi: MJPEG)")
    add_video_options(ap)
    ap.add_argument("--detections", metavar="FILE",
                    help="write the detections: JSON lines (one per processed frame), or CSV (one row per "
                         "detection) when FILE ends in .csv")
    ap.add_argument("--frame-timings", action="store_true",
                    help="add each frame's stage latencies (latency_ms) to the JSONL; without it two runs "
                         "on the same input write identical files")
    ap.add_argument("--dump-dir", metavar="DIR", help="write each annotated frame as an image into DIR")
    ap.add_argument("--dump-raw", action="store_true", help="with --dump-dir: also write the raw frames")
    ap.add_argument("--dump-ext", default="jpg", choices=("jpg", "png"), help="frame dump format")
    ap.add_argument("--stats-json", metavar="PATH", help="write the run's statistics as JSON")
    ap.add_argument("-y", "--overwrite", action="store_true",
                    help="replace output files that already exist (an input is never written over)")
    policy = ap.add_mutually_exclusive_group()
    policy.add_argument("--live", action="store_true",
                        help="live policy (latest frame wins); on a file, play it at its own frame rate")
    policy.add_argument("--lossless", action="store_true", help="every frame in order, even from a camera")
    ap.add_argument("--loop", action="store_true", help="restart a file source at its end")
    add_model_options(ap)
    ap.add_argument("--list-models", action="store_true", help="list the named detectors and exit")
    ap.add_argument("--max-frames", type=int, default=0, help="stop after N processed frames")
    ap.add_argument("--duration", type=float, default=0.0, help="stop after S seconds")
    ap.add_argument("--batch", type=int, default=0, metavar="N",
                    help="frames per detector call in lossless runs (default 4: ~10%% faster a frame on CPU than 1; "
                         "live sources always use 1)")
    ap.add_argument("--reconnect", type=int, default=5, metavar="N",
                    help="a camera or stream that drops: reconnect tries (backoff from 0.5 s) before giving up")
    ap.add_argument("--open-timeout", type=float, default=10.0, metavar="S", help="stream connect/read timeout")
    ap.add_argument("--rtsp-transport", choices=("tcp", "udp"), default="tcp",
                    help="RTSP over TCP (default: works through NAT and firewalls) or UDP")
    add_source_limits(ap)
    cam = ap.add_argument_group("webcams (the camera may grant another mode; Lookout reports what it got)")
    cam.add_argument("--width", type=int, default=0, help="capture width in pixels")
    cam.add_argument("--height", type=int, default=0, help="capture height in pixels")
    cam.add_argument("--fps", type=float, default=0.0, help="capture frame rate")
    cam.add_argument("--fourcc", default="", metavar="CODE", help="pixel format, e.g. MJPG or YUYV")
    cam.add_argument("--list-cameras", action="store_true", help="list the cameras present and exit")
    ap.add_argument("--no-progress", action="store_true", help="no progress bar or live line")
    return ap


def add_source_limits(ap) -> None:
    from detector.io.sources import DEFAULT_MAX_PIXELS
    ap.add_argument("--max-pixels", type=_pixels, default=DEFAULT_MAX_PIXELS, metavar="N",
                    help=f"largest image or video frame decoded, e.g. 50M (default {DEFAULT_MAX_PIXELS / 1e6:g}M: 8K "
                         f"video and 48 MP photos pass); bigger images are refused, or skipped in a folder, "
                         f"before they are decoded")


def _pixels(text: str) -> int:
    t = text.strip().upper()
    scale = 1_000_000 if t.endswith("M") else 1
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        value = 0.0
    if not 1 <= value < 2**62:  # nan and inf fail this too
        raise argparse.ArgumentTypeError(f"expected a pixel count like 50M or 33177600, got {text!r}")
    return int(value)


def add_video_options(ap) -> None:
    from detector.io.video_out import PRESETS
    ap.add_argument("--codec", choices=("h264", "hevc", "mpeg4", "mjpeg"), default=None,
                    help="video codec (default h264; mjpeg for .avi)")
    ap.add_argument("--preset", choices=PRESETS, default=None,
                    help="H.264/HEVC encoder speed preset (default veryfast; ultrafast: about 14%% more frames a "
                         "second through a lossless run on 2 cores, for a file 2.4-2.7x as big)")
    quality = ap.add_mutually_exclusive_group()
    quality.add_argument("--crf", type=int, default=None, metavar="Q",
                         help="H.264/HEVC quality, 0-51, lower is better and bigger (default 23)")
    quality.add_argument("--bitrate", default=None, metavar="RATE", help="target bitrate instead, e.g. 4M or 800k")


def add_model_options(ap) -> None:
    """Model, thresholds, classes, classifier, tracking and counting: shared with ``lookout batch``."""
    ap.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--half", action="store_true", help="fp16 on CUDA (fp32 is the default: exact, and "
                    "faster at batch 1 on the GPUs measured)")
    ap.add_argument("--backend", default="auto", choices=("auto", "eager", "fused", "jit", "onnxruntime"),
                    help="detector runtime (auto: ONNX Runtime on CPU when installed, else TorchScript)")
    ap.add_argument("--int8", action="store_true",
                    help="run a float SSDLite model (e.g. ssdlite-mobilenetv2-person) as int8 in ONNX Runtime: "
                         "about 0.65x the time, 97.7%% of its boxes found (precision 97.4%%, scores within 0.03 on "
                         "average; measured on vtest.avi); CPUs with VNNI only; quantised once, then cached")
    ap.add_argument("--int8-calibration", default="", metavar="SOURCE",
                    help="video, image or folder of your scenes to calibrate --int8 on (implies --int8; "
                         "default: the demo clip)")
    ap.add_argument("--model", default=DEFAULT_MODEL,
                    help=f"detector name ({', '.join(KNOWN_MODELS)}; default {DEFAULT_MODEL}) or path "
                         f"(.tflite SSD, .pt, .pb, model-zoo .tar.gz); see --list-models")
    ap.add_argument("--classifier", default=None, help=f"classifier name ({', '.join(CLASSIFIERS)}; default {DEFAULT_CLASSIFIER}) or path to a .tflite / .pt")
    ap.add_argument("--classify", default="off", choices=("off", "frame", "boxes"),
                    help="classify the whole frame or each detected box")
    ap.add_argument("--conf", type=float, default=0.3, help="score threshold (default 0.3)")
    ap.add_argument("--iou", type=float, default=0.6, help="NMS IoU threshold (default 0.6)")
    ap.add_argument("--classes", default="", help="comma-separated class names to keep, e.g. person,car")
    track = ap.add_argument_group("tracking and counting")
    track.add_argument("--track", action="store_true", help="track objects across frames: stable IDs in the "
                       "JSONL (track_id), the video and the window (on by itself with --line / --zone)")
    track.add_argument("--line", action="append", default=[], metavar="NAME=x1,y1,x2,y2",
                       help="count tracks crossing this line, per class and direction (pixels, or fractions of "
                            "the frame when all four are in 0..1); repeatable")
    track.add_argument("--zone", action="append", default=[], metavar="NAME=x1,y1,x2,y2,x3,y3,...",
                       help="count tracks inside this polygon: now, most at once, entered; repeatable")
    track.add_argument("--counters", metavar="FILE", help="lines and zones from a JSON file (the window saves one)")
    track.add_argument("--tracker-match", type=float, default=0.8, metavar="M",
                       help="association cost limit, 1 - IoU (default 0.8; lower = stricter)")
    track.add_argument("--tracker-buffer", type=int, default=30, metavar="FRAMES",
                       help="frames a lost track is kept to pick it up again (default 30)")


def _config(args, guard: bool = True):
    """The RunConfig for parsed options; ValueError (one line) for a bad one. ``guard``: also refuse
    outputs over inputs or existing files (``lookout batch`` checks its own outputs instead)."""
    from detector.engine.run import RunConfig
    if not 0.0 <= args.conf <= 1.0:
        raise ValueError(f"expected --conf between 0 and 1, got {args.conf}")
    if not 0.0 < args.iou <= 1.0:  # IoU 0 would suppress every overlapping box, even a touching one
        raise ValueError(f"expected --iou above 0 and at most 1, got {args.iou}")
    if not 0 <= args.batch <= 64:
        raise ValueError(f"expected --batch from 1 to 64 (0: automatic), got {args.batch}")
    if args.max_frames < 0 or args.duration < 0:
        raise ValueError(f"expected --max-frames and --duration >= 0, got {args.max_frames} and {args.duration}")
    _check_output(args)
    _check_source_size(args)
    int8 = _check_int8(args)
    camera = _camera_mode(args)
    classes = tuple(c.strip() for c in args.classes.split(",") if c.strip())
    _check_classes(args.model, classes)
    counters = _counters(args)
    from detector.io.sources import is_live_spec
    is_file = not is_live_spec(args.source)
    config = RunConfig(
        source=args.source, live=True if args.live else (False if args.lossless else None),
        play_realtime=args.live and is_file, loop=args.loop, device=args.device, half=args.half, backend=args.backend,
        model=args.model, int8=int8, int8_calibration=args.int8_calibration,
        classifier=args.classifier, classify=args.classify, conf=args.conf, iou=args.iou,
        classes=classes, output=args.output, codec=args.codec, crf=args.crf, bitrate=_bitrate(args.bitrate), preset=args.preset,
        rtsp_transport=args.rtsp_transport, camera=camera,
        detections=args.detections, frame_timings=args.frame_timings, dump_dir=args.dump_dir, dump_raw=args.dump_raw, dump_ext=args.dump_ext,
        stats_json=args.stats_json, max_frames=args.max_frames, duration=args.duration, batch=args.batch,
        progress=not args.no_progress, reconnect_attempts=max(args.reconnect, 0),
        open_timeout_s=max(args.open_timeout, 0.5), track=args.track or bool(counters), counters=tuple(counters),
        tracker_match=args.tracker_match, tracker_buffer=args.tracker_buffer,
        overwrite=args.overwrite, max_pixels=args.max_pixels, counters_file=args.counters)
    if guard:
        from detector.engine.run import check_run_writes
        check_run_writes(config)  # before any model loads: nothing over an input, nothing replaced unasked
    return config


def _check_output(args) -> None:
    from pathlib import Path
    from detector.io.sinks import VIDEO_SUFFIXES
    from detector.io.video_out import PRESET_ENCODERS, pick_encoder
    if args.output and Path(args.output).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"cannot write video {args.output!r}: expected a name ending in {', '.join(VIDEO_SUFFIXES)}")
    if args.output:
        choice = pick_encoder(Path(args.output), args.codec)  # a codec the container can't hold fails here
        if args.preset and choice.encoder not in PRESET_ENCODERS:
            raise ValueError(f"--preset applies to H.264 and HEVC; {args.output!r} gets {choice.codec}: "
                             f"drop --preset or use --codec h264")
    elif args.preset:
        raise ValueError("--preset applies to the annotated video: give --output NAME.mp4 (--video in lookout batch)")
    if args.crf is not None and not 0 <= args.crf <= 51:
        raise ValueError(f"expected --crf between 0 and 51, got {args.crf}")


def _check_source_size(args) -> None:
    """An image source over --max-pixels is refused from its header, before any model loads (a
    folder's images are checked one by one as they come, and skipped)."""
    from pathlib import Path
    from detector.io.sources import IMAGE_EXTS, image_refusal
    if Path(args.source).suffix.lower() in IMAGE_EXTS and Path(args.source).is_file():
        refusal = image_refusal(args.source, args.max_pixels)
        if refusal:
            raise ValueError(f"image {args.source!r}: {refusal}")


def _check_int8(args) -> bool:
    """--int8 (or --int8-calibration) where it can be had: said before anything heavy loads."""
    if not (args.int8 or args.int8_calibration):
        return False
    if args.int8_calibration:
        from detector.io.sources import is_live_spec
        from pathlib import Path
        spec = args.int8_calibration
        if is_live_spec(spec) or not (Path(spec).exists() or any(c in spec for c in "*?[")):
            raise ValueError(f"--int8-calibration {spec!r}: expected a video file, image or folder of images "
                             f"from the scenes you will run on")
    from detector.runtime.onnx.int8 import int8_refusal
    refusal = int8_refusal(args.model, args.device, args.half, args.backend)
    if refusal:
        raise ValueError(refusal)
    return True


def _bitrate(text: str | None) -> int | None:
    """'4M', '800k', '2500000' -> bits/s."""
    if text is None:
        return None
    t = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        value = 0
    if not 1000 <= value < 2**40:  # nan and inf fail this too
        raise ValueError(f"expected --bitrate like 4M, 800k or 2500000 (bits/s, 1k to 1T), got {text!r}")
    return int(value)


def _camera_mode(args):
    from detector.io.camera import CameraMode, parse_fourcc
    if args.width < 0 or args.height < 0 or args.fps < 0:
        raise ValueError(f"expected --width, --height and --fps >= 0, got {args.width}, {args.height}, {args.fps}")
    return CameraMode(args.width, args.height, args.fps, parse_fourcc(args.fourcc) if args.fourcc else "")


def version_text() -> str:
    """``lookout --version``: this package and the runtimes it would use, read without importing them."""
    from importlib import metadata

    def v(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"
    parts = [f"{name} {v(dist)}" for name, dist in (("onnxruntime", "onnxruntime"), ("torch", "torch"),
                                                     ("PyAV", "av"), ("OpenCV", "opencv-python-headless"),
                                                     ("PyQt6", "PyQt6"))]
    return f"lookout {v('lookout')} (python {sys.version.split()[0]}; {'; '.join(parts)})"


def _counters(args) -> list:
    from detector.analytics.counting import check_names, load_counters, parse_counter
    if not 0 < args.tracker_match <= 1:
        raise ValueError(f"expected --tracker-match in (0, 1], got {args.tracker_match}")
    if args.tracker_buffer < 1:
        raise ValueError(f"expected --tracker-buffer >= 1 frame, got {args.tracker_buffer}")
    counters = load_counters(args.counters) if args.counters else []
    counters += [parse_counter("line", s) for s in args.line] + [parse_counter("zone", s) for s in args.zone]
    check_names(counters)
    return counters


def _check_classes(model: str, classes: tuple[str, ...]) -> None:
    """Unknown --classes names fail before any model loads, for the named models (whose labels are known)."""
    from detector.models.registry import MODELS
    from detector.models.labels import labels_of
    if not classes or model not in MODELS:
        return
    known = [n for n in labels_of(MODELS[model].label_set)[1:] if not n.startswith("class_")]
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise ValueError(f"--classes: unknown class {', '.join(map(repr, unknown))} for {model}; "
                         f"its classes are: {', '.join(known)}")


def list_models() -> int:
    from detector.models.registry import model_table
    rows = model_table()
    for r in rows:
        print(f"{r['name']}\n  {r['architecture']}; {r['classes']}; {r['size']}; licence {r['licence']}\n"
              f"  weights: {r['weights']}\n  offline now: {r['offline']}")
    return 0


def _install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum, frame):
        if stop.is_set():  # a second signal: give up waiting
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, let write() fail with EFBIG, not kill us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def _print_summary(report) -> None:
    s = report.stats
    fr, fps, lat = s["frames"], s["fps"], s["latency"]
    det = lat.get("detect", {})
    age = lat.get("age", {})
    print(f"lookout: {fr['inferred']} frames processed, {fr['written']} written, {fr['dropped']} dropped, "
          f"{fr['bad_frames']} bad | {fps['inferred']:.1f} fps | detect p50 {det.get('p50_ms', 0):.1f} ms "
          f"p95 {det.get('p95_ms', 0):.1f} ms | age p50 {age.get('p50_ms', 0):.1f} ms | {report.stopped_by}",
          file=sys.stderr)
    counts = s.get("counts")
    for name, c in (counts or {}).get("lines", {}).items():
        per = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        print(f"lookout: line {name}: in {sum(c['in'].values())} ({per(c['in'])}), "
              f"out {sum(c['out'].values())} ({per(c['out'])})", file=sys.stderr)
    for name, c in (counts or {}).get("zones", {}).items():
        print(f"lookout: zone {name}: entered {sum(c['entered'].values())} {dict(sorted(c['entered'].items()))}, "
              f"most at once {dict(sorted(c['max'].items()))}, inside at the end {dict(sorted(c['inside'].items()))}",
              file=sys.stderr)


def run_headless(args) -> int:
    from detector.engine.run import load_models, run
    config = _config(args)
    stop = threading.Event()
    _install_signal_handlers(stop)  # a Ctrl-C while models load ends the run before it starts
    models = load_models(config, warn=lambda m: print(m, file=sys.stderr))
    _install_signal_handlers(stop)  # again: loading ONNX Runtime / torch can reset SIGINT's handler
    if stop.is_set():
        print("lookout: interrupted", file=sys.stderr)
        return 130
    report = run(config, stop, models=models)
    _print_summary(report)
    for w in report.warnings:
        print(f"lookout: warning: {w}", file=sys.stderr)
    if report.error:
        print(f"lookout: error: {report.error}", file=sys.stderr)
        return 1
    return 130 if report.stopped_by == "signal" else 0


def _display_works() -> bool:
    """Probe Qt in a child process: a missing display or platform plugin makes Qt abort the process."""
    import subprocess
    probe = "from PyQt6.QtGui import QGuiApplication; QGuiApplication([])"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_window(args) -> int:
    offscreen = os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc")
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not offscreen and (not has_display or not _display_works()):
        print("lookout: no usable display found; use --headless (with --output, --detections or --dump-dir) "
              "to run without a window", file=sys.stderr)
        return 2
    config = _config(args)
    from ui.app import run_app
    return run_app(config)


def main(argv: list[str] | None = None) -> int:
    from detector.runtime.host import tune_process
    tune_process()  # before torch / ONNX Runtime load: see there
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["batch"]:
        from batch_cli import batch_main
        return batch_main(argv[1:])
    args = build_parser().parse_args(argv)
    if args.version:
        print(version_text())
        return 0
    if args.list_models:
        return list_models()
    if args.list_cameras:
        from detector.io.camera import describe_cameras, list_cameras
        print(describe_cameras(list_cameras()))
        return 0
    headless = args.headless or bool(args.output or args.detections or args.dump_dir)
    try:
        return run_headless(args) if headless else run_window(args)
    except KeyboardInterrupt:
        print("lookout: interrupted", file=sys.stderr)
        return 130
    except ValueError as e:  # user errors: bad source, output, model, option
        print(f"lookout: error: {e}", file=sys.stderr)
        return 2


def cli() -> None:
    """The ``lookout`` script: run, then leave without the interpreter's slow teardown of torch and
    ONNX Runtime thread pools (seconds here). Every output is closed and flushed by then."""
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)


if __name__ == "__main__":
    cli()
