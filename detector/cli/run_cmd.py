"""``lookout [--source S] ...``: one source into files (headless), or the window.

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
from typing import Callable

from detector.cli import options as opt
from detector.engine.run import RunConfig

SUBCOMMANDS = {"batch": "many videos and image folders into one output folder (lookout batch -h)",
               "models": "the detectors and classifiers Lookout names, and which work offline now",
               "cameras": "the capture devices present",
               "convert": "TF graphs and TFLite files -> Lookout checkpoints (needs lookout[torch])",
               "events": "list the events an --events folder holds (lookout events DIR -h)"}


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  lookout {name:<8} {what}" for name, what in SUBCOMMANDS.items())
    ap = argparse.ArgumentParser(prog="lookout", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 usage="lookout [--source S] [options]\n       lookout {%s} ..." % ",".join(SUBCOMMANDS),
                                 description="Real-time object detection on webcams and video.\n\n"
                                             "  lookout [options]  run one source: the window, or files with "
                                             f"--output/--detections/--dump-dir\n{commands}")
    D = opt.D
    ap.add_argument("--source", default=D["source"],
                    help="webcam index, video file, image, folder or glob of images, or stream URL (default: 0)")
    ap.add_argument("--headless", action="store_true", help="no window, no Qt: process and write outputs only")
    ap.add_argument("--version", action="store_true", help="print the version and the runtimes found, and exit")
    ap.add_argument("--output", metavar="VIDEO", help="write the annotated video (.mp4, .mkv, .mov: H.264; .avi: MJPEG)")
    opt.add_video_options(ap)
    ap.add_argument("--detections", metavar="FILE",
                    help="write the detections: JSON lines (one per processed frame), or CSV (one row per "
                         "detection) when FILE ends in .csv")
    ap.add_argument("--frame-timings", action="store_true",
                    help="add each frame's stage latencies (latency_ms) to the JSONL; without it two runs "
                         "on the same input write identical files")
    ap.add_argument("--dump-dir", metavar="DIR", help="write each annotated frame as an image into DIR")
    ap.add_argument("--dump-raw", action="store_true", help="with --dump-dir: also write the raw frames")
    ap.add_argument("--dump-ext", default=D["dump_ext"], choices=("jpg", "png"), help="frame dump format")
    ap.add_argument("--stats-json", metavar="PATH", help="write the run's statistics as JSON")
    ap.add_argument("-y", "--overwrite", action="store_true",
                    help="replace output files that already exist (an input is never written over)")
    policy = ap.add_mutually_exclusive_group()
    policy.add_argument("--live", dest="live_flag", action="store_true",
                        help="live policy (latest frame wins); on a file, play it at its own frame rate")
    policy.add_argument("--lossless", action="store_true", help="every frame in order, even from a camera")
    ap.add_argument("--loop", action="store_true", help="restart a file source at its end")
    opt.add_model_options(ap)
    ap.add_argument("--list-models", action="store_true", help="the same as lookout models")
    ap.add_argument("--max-frames", type=int, default=D["max_frames"], help="stop after N processed frames")
    ap.add_argument("--duration", type=float, default=D["duration"], help="stop after S seconds")
    ap.add_argument("--batch", type=int, default=D["batch"], metavar="N",
                    help="frames per detector call in lossless runs (default 4: ~10%% faster a frame on CPU than 1; "
                         "live sources always use 1)")
    opt.add_stream_options(ap)
    opt.add_event_options(ap)
    opt.add_camera_options(ap)
    ap.add_argument("--list-cameras", action="store_true", help="the same as lookout cameras")
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar or live line")
    return ap


def config_from(args: argparse.Namespace, guard: bool = True) -> RunConfig:
    """The run's RunConfig; ``guard``: also refuse outputs over inputs or existing files and an image
    over --max-pixels, all before any model loads."""
    config = opt.config_from(args)
    if guard:
        from detector.engine.run import check_run_writes
        check_run_writes(config)  # nothing over an input, nothing replaced unasked
        opt.check_source_size(config)
    return config


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum, frame):
        if stop.is_set():  # a second signal: give up waiting
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, let write() fail with EFBIG, not kill us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def print_summary(report) -> None:
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


def run_headless(config: RunConfig) -> int:
    from detector.engine.run import load_models, run
    stop = threading.Event()
    install_signal_handlers(stop)  # a Ctrl-C while models load ends the run before it starts
    models = load_models(config, warn=lambda m: print(m, file=sys.stderr))
    install_signal_handlers(stop)  # again: loading ONNX Runtime / torch can reset SIGINT's handler
    if stop.is_set():
        print("lookout: interrupted", file=sys.stderr)
        return 130
    report = run(config, stop, models=models)
    print_summary(report)
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


def run_window(config: RunConfig, open_window: Callable[[RunConfig], int] | None) -> int:
    if open_window is None:
        raise ValueError("this entry point has no window; use --headless (with --output, --detections or --dump-dir)")
    offscreen = os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc")
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not offscreen and (not has_display or not _display_works()):
        print("lookout: no usable display found; use --headless (with --output, --detections or --dump-dir) "
              "to run without a window", file=sys.stderr)
        return 2
    return open_window(config)


def run_main(argv: list[str], open_window: Callable[[RunConfig], int] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.version:
        from detector.cli.info_cmd import version_text
        print(version_text())
        return 0
    if args.list_models:
        from detector.cli.info_cmd import models_main
        return models_main([])
    if args.list_cameras:
        from detector.cli.info_cmd import cameras_main
        return cameras_main([])
    headless = args.headless or bool(args.output or args.detections or args.dump_dir or args.events)
    config = config_from(args)
    return run_headless(config) if headless else run_window(config, open_window)
