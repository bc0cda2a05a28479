"""``lookout batch INPUT... --out DIR``: many videos and image folders, on one machine or a Ray cluster.

    lookout batch clips/ more.mp4 'cams/*.mkv' list.txt --out results/ --video
    lookout batch clips/ --out results/ --ray off                 # this process, one input after another
    lookout batch clips/ --out results/ --ray 10.0.0.1:6379       # join a cluster ('ray start --head')

Per input: ``DIR/<name>.jsonl`` (or ``.csv``), ``DIR/<name>.mp4`` with ``--video``, each identical to
what ``lookout --source INPUT --detections ...`` writes; ``DIR/summary.json`` and ``DIR/summary.csv``.
Exit codes: 0 all done; 1 some input failed (see the summary); 2 bad options, nothing run; 130 Ctrl-C.
"""
from __future__ import annotations

import argparse
import os
import sys
import threading
from pathlib import Path

from detector.cli import options as opt
from detector.cli.run_cmd import install_signal_handlers


def build_batch_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lookout batch",
                                 description="Process many videos and image folders into one output folder.")
    ap.add_argument("inputs", nargs="+", metavar="INPUT",
                    help="video, image folder, folder of videos (searched recursively), glob, stream URL, or a "
                         ".txt list of those (one a line)")
    ap.add_argument("--out", required=True, metavar="DIR", help="output folder (created if missing)")
    ap.add_argument("--video", action="store_true", help="also write each input's annotated video, DIR/<name>.mp4")
    ap.add_argument("--format", choices=("jsonl", "csv"), default="jsonl", help="detections file format")
    ap.add_argument("--ray", default=None, metavar="off|local|ADDRESS",
                    help="off: this process, one input after another; local: a Ray instance on this machine "
                         "(the default when Ray is installed); ADDRESS: join a running Ray cluster")
    ap.add_argument("--workers", type=int, default=0, metavar="N",
                    help="Ray workers, each holding the models (default: CPUs / threads per worker)")
    ap.add_argument("--threads-per-worker", type=int, default=1, metavar="T",
                    help="inference threads per Ray worker (default 1); N x T should fit the cores")
    ap.add_argument("--force", action="store_true", help="redo inputs whose outputs are already complete")
    ap.add_argument("-y", "--overwrite", action="store_true",
                    help="replace files in --out that lookout batch did not write (an input is never written over)")
    ap.add_argument("--max-frames", type=int, default=opt.D["max_frames"], help="per input: stop after N frames")
    ap.add_argument("--duration", type=float, default=opt.D["duration"], help="per input: stop after S seconds (streams)")
    opt.add_stream_options(ap)
    opt.add_video_options(ap)
    opt.add_model_options(ap)
    ap.add_argument("--no-progress", dest="progress", action="store_false", help="no progress output")
    return ap


def batch_main(argv: list[str]) -> int:
    args = build_batch_parser().parse_args(argv)
    try:
        settings, inputs, ray = prepare(args)
    except ValueError as e:
        print(f"lookout: error: {e}", file=sys.stderr)
        return 2
    from detector.batch.runner import run_batch
    stop = threading.Event()
    install_signal_handlers(stop)
    try:
        return run_batch(settings, inputs, ray=ray, workers=args.workers, threads=args.threads_per_worker,
                         force=args.force, stop=stop, progress=args.progress)
    except ValueError as e:  # a cluster that can't be reached, a pool that doesn't fit it
        print(f"lookout: error: {e}", file=sys.stderr)
        return 2


def prepare(args):
    """Every check that needs no model and no Ray: options, the output folder, the inputs, and that no
    output lands on an input or on a file batch did not write."""
    from detector.batch.inputs import expand
    from detector.batch.job import BatchSettings, check_batch_writes, is_own_output, own_outputs
    from detector.batch.ray_runner import INSTALL_HINT, ray_installed
    ray = args.ray or ("local" if ray_installed() else "off")
    if ray != "off" and not ray_installed():
        raise ValueError(f"--ray {ray}: {INSTALL_HINT}")
    if args.workers < 0 or args.threads_per_worker < 1:
        raise ValueError(f"expected --workers >= 0 and --threads-per-worker >= 1, got {args.workers} and "
                         f"{args.threads_per_worker}")
    # each input's source and output paths are filled in per input (detector.batch.job)
    config = opt.config_from(args, source="input", output="out.mp4" if args.video else None, progress=False)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ValueError(f"cannot create the output folder {args.out!r} ({e.strerror}); pick another --out") from None
    if not os.access(out, os.W_OK | os.X_OK):
        raise ValueError(f"the output folder {args.out!r} is not writable; pick another --out")
    settings = BatchSettings(config, str(out.resolve()), video=args.video, fmt=args.format)
    own = own_outputs(settings)
    inputs = [i for i in expand(args.inputs) if not is_own_output(i.source, own)]  # earlier results are no input
    if not any(i.problem is None for i in inputs):
        raise ValueError(f"no inputs to process: {'; '.join(f'{i.source}: {i.problem}' for i in inputs)}")
    check_batch_writes(settings, inputs, own, args.overwrite)
    return settings, inputs, ray
