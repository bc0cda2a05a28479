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
               "events": "list the events an --events folder holds (lookout events DIR -h)",
               "recover": "finish the recordings and events a killed run left in DIR (lookout recover DIR)"}


def build_parser() -> argparse.ArgumentParser:
    commands = "\n".join(f"  lookout {name:<8} {what}" for name, what in SUBCOMMANDS.items())
    ap = argparse.ArgumentParser(prog="lookout", formatter_class=argparse.RawDescriptionHelpFormatter,
                                 usage="lookout [--source S] [options]\n       lookout {%s} ..." % ",".join(SUBCOMMANDS),
                                 description="Real-time object detection on webcams and video.\n\n"
                                             "  lookout [options]  run one source: the window, or files with "
                                             f"--output/--detections/--dump-dir\n{commands}")
    D = opt.D
    ap.add_argument("--source", dest="sources", action="append", metavar="[NAME=]SOURCE",
                    help="webcam index, video file, image, folder or glob of images, or stream URL (default: 0); "
                         "repeat for several streams in one run, named NAME= or after their source")
    ap.add_argument("--config", metavar="FILE", help="options and [[streams]] from a TOML file (the command line "
                    "wins); see docs/usage.md")
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
                    help="frames per detector call (default: 4 consecutive frames of a file; live streams share a "
                         "call, the newest frame of each, up to 8 streams)")
    opt.add_stream_options(ap)
    opt.add_event_options(ap)
    opt.add_camera_options(ap)
    ap.add_argument("--list-cameras", action="store_true", help="the same as lookout cameras")
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar or live line")
    ap.add_argument("--snapshot-dir", metavar="DIR", help="the window's snapshot folder for this run (default: the "
                    "one set in the window, else Pictures/Lookout)")
    ap.add_argument("--record-dir", metavar="DIR", help="the window's recordings folder for this run (default: the "
                    "one set in the window, else Videos/Lookout)")
    return ap


def config_from(args: argparse.Namespace, guard: bool = True) -> RunConfig:
    """The RunConfig of a one-stream run (``stream_configs`` for any number)."""
    return stream_configs(args, [], guard)[0]


def stream_configs(args: argparse.Namespace, file_streams: list[dict], guard: bool = True) -> list[RunConfig]:
    """One RunConfig per stream: the --source options (or the config file's streams), each named,
    with {stream} filled in its output paths. ``guard``: also refuse outputs over any stream's inputs
    or over existing files, and images over --max-pixels, all before any model loads."""
    from detector.cli.streams_spec import check_templates
    from detector.engine.stream_names import fill, split_source, unique_names
    if args.sources:
        entries = [(*split_source(s), {}) for s in args.sources]
    elif file_streams:
        entries = [(st["name"], st["source"], {k: v for k, v in st.items() if k not in ("name", "source")})
                   for st in file_streams]
    else:
        entries = [(None, opt.D["source"], {})]
    names = unique_names([(n, src) for n, src, _ in entries])
    several = len(entries) > 1
    check_templates(vars(args), several)
    configs = []
    for name, (_, source, own) in zip(names, entries):
        paths = {k: fill(own.get(k, getattr(args, k, None)), name) for k in ("output", "detections", "dump_dir", "stats_json")}
        configs.append(opt.config_from(args, **{**own, **paths, "source": source, "stream": name}))
    if guard:
        from detector.engine.run import check_streams_writes
        check_streams_writes(configs)  # nothing over an input, nothing replaced unasked, no two streams on one file
        for c in configs:
            opt.check_source_size(c)
    return configs


def install_signal_handlers(stop: threading.Event) -> None:
    def handler(signum, frame):
        if stop.is_set():  # a second signal: give up waiting
            raise KeyboardInterrupt
        stop.set()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
    if hasattr(signal, "SIGXFSZ"):  # past a file-size limit, let write() fail with EFBIG, not kill us
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)


def print_summary(report, prefix: str = "") -> None:
    s = report.stats
    fr, fps, lat = s["frames"], s["fps"], s["latency"]
    det = lat.get("detect", {})
    age = lat.get("age", {})
    skipped = f", {fr['motion_skipped']} still (motion)" if "motion_skipped" in fr else ""
    reg = s.get("regions", {})
    regions = (f" | regions {reg['mode']}: {reg['per_frame']:g} a frame, {reg.get('calls_per_frame', 0):g} detector calls a "
               f"frame, {reg.get('still_skipped', 0)} still objects skipped" if reg.get("per_frame", 1) != 1 else "")
    print(f"lookout: {prefix}{fr['inferred']} frames processed{skipped}, {fr['written']} written, {fr['dropped']} dropped, "
          f"{fr['bad_frames']} bad | {fps['inferred']:.1f} fps | detect p50 {det.get('p50_ms', 0):.1f} ms "
          f"p95 {det.get('p95_ms', 0):.1f} ms | age p50 {age.get('p50_ms', 0):.1f} ms{regions} | {report.stopped_by}",
          file=sys.stderr)
    counts = s.get("counts")
    for name, c in (counts or {}).get("lines", {}).items():
        per = lambda d: ", ".join(f"{k} {v}" for k, v in sorted(d.items())) or "none"  # noqa: E731
        print(f"lookout: {prefix}line {name}: in {sum(c['in'].values())} ({per(c['in'])}), "
              f"out {sum(c['out'].values())} ({per(c['out'])})", file=sys.stderr)
    for name, c in (counts or {}).get("zones", {}).items():
        print(f"lookout: {prefix}zone {name}: entered {sum(c['entered'].values())} {dict(sorted(c['entered'].items()))}, "
              f"most at once {dict(sorted(c['max'].items()))}, inside at the end {dict(sorted(c['inside'].items()))}",
              file=sys.stderr)


def run_headless(configs: list[RunConfig]) -> int:
    from detector.engine.run import load_models, run_streams
    stop = threading.Event()
    install_signal_handlers(stop)  # a Ctrl-C while models load ends the run before it starts
    models = load_models(configs[0], warn=lambda m: print(m, file=sys.stderr))
    install_signal_handlers(stop)  # again: loading ONNX Runtime / torch can reset SIGINT's handler
    if stop.is_set():
        print("lookout: interrupted", file=sys.stderr)
        return 130
    reports = run_streams(configs, stop, models=models)
    several = len(configs) > 1
    for config, report in zip(configs, reports):
        prefix = f"{config.stream}: " if several else ""
        print_summary(report, prefix)
        for w in report.warnings:
            print(f"lookout: {prefix}warning: {w}", file=sys.stderr)
    failed = [(c, r) for c, r in zip(configs, reports) if r.error]
    for config, report in failed[:1] if not several else []:
        print(f"lookout: error: {report.error}", file=sys.stderr)
    if several and failed:
        print(f"lookout: error: {len(failed)} of {len(configs)} streams failed: "
              f"{'; '.join(f'{c.stream}: {r.error}' for c, r in failed)}", file=sys.stderr)
    if failed:
        return 1
    return 130 if any(r.stopped_by == "signal" for r in reports) else 0


def _display_works() -> bool:
    """Probe Qt in a child process: a missing display or platform plugin makes Qt abort the process."""
    import subprocess
    probe = "from PyQt6.QtGui import QGuiApplication; QGuiApplication([])"
    try:
        return subprocess.run([sys.executable, "-c", probe], capture_output=True, timeout=20).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def run_window(configs: list[RunConfig], open_window: Callable[[list[RunConfig]], int] | None) -> int:
    """The window on every stream (a grid of tiles with several)."""
    if open_window is None:
        raise ValueError("this entry point has no window; use --headless (with --output, --detections or --dump-dir)")
    offscreen = os.environ.get("QT_QPA_PLATFORM", "") in ("offscreen", "minimal", "vnc")
    has_display = bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    if not offscreen and (not has_display or not _display_works()):
        print("lookout: no usable display found; use --headless (with --output, --detections or --dump-dir) "
              "to run without a window", file=sys.stderr)
        return 2
    return open_window(configs)


def run_main(argv: list[str], open_window: Callable[[list[RunConfig]], int] | None = None) -> int:
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
    file_streams: list[dict] = []
    if args.config:
        from detector.cli.config_file import read_config
        parser = build_parser()
        top, file_streams = read_config(args.config, parser)
        parser.set_defaults(**top)
        args = parser.parse_args(argv)  # the command line over the file
    configs = stream_configs(args, file_streams)
    from detector.cli.recover_cmd import print_left_notice
    print_left_notice(configs)
    headless = args.headless or any(x.output or x.detections or x.dump_dir for x in configs)  # --events: the window lists them
    if headless:
        return run_headless(configs)
    return run_window(configs, open_window)
