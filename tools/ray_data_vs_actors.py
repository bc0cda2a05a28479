"""Batch mode's actor pool against Ray Data's map_batches over the same 8 clips, side by side.

    pip install pyarrow pandas   # Ray Data's own needs; not a Lookout dependency
    python tools/ray_data_vs_actors.py [--frames 150]

Both run the same BatchWorker (models loaded once per worker, one whole input per call) with 2
workers x 1 thread on a fresh local Ray instance each; the wall time includes starting Ray.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tools.batch_throughput import make_clips  # noqa: E402


def settings_for(out: Path):
    from detector.batch.job import BatchSettings
    from detector.engine.run import RunConfig
    return BatchSettings(RunConfig(), str(out))


def actors(clips, out: Path) -> float:
    from detector.batch.inputs import expand
    from detector.batch.ray_runner import run_on_ray
    t0 = time.monotonic()
    run_on_ray(settings_for(out), expand(list(map(str, clips))), lambda r: None, threading.Event(), "local", 2, 1)
    return time.monotonic() - t0


def ray_data(clips, out: Path) -> float:
    import ray
    from detector.batch.inputs import expand
    from detector.batch.ray_runner import BatchWorker
    settings = settings_for(out)

    class Work:
        def __init__(self):
            self.worker = BatchWorker(settings, 1)

        def __call__(self, batch):
            from detector.batch.inputs import BatchInput
            recs = [self.worker.process(BatchInput(n, s)) for n, s in zip(batch["name"], batch["source"])]
            return {"name": [r["name"] for r in recs], "frames": [r["frames"] for r in recs]}

    t0 = time.monotonic()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    items = [{"name": i.name, "source": i.source} for i in expand(list(map(str, clips)))]
    ds = ray.data.from_items(items, override_num_blocks=len(items))
    rows = ds.map_batches(Work, batch_size=1, concurrency=2, num_cpus=1).take_all()
    assert sum(r["frames"] for r in rows) > 0
    ray.shutdown()
    return time.monotonic() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--frames", type=int, default=150)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        clips = make_clips(tmp, args.frames)
        a = actors(clips, tmp / "actors")
        d = ray_data(clips, tmp / "data")
        same = all((tmp / "actors" / f"{c.stem}.jsonl").read_bytes() == (tmp / "data" / f"{c.stem}.jsonl").read_bytes()
                   for c in clips)
    total = len(clips) * args.frames
    print(f"8 clips x {args.frames} frames, 2 workers x 1 thread, wall including Ray start-up:")
    print(f"  actor pool (lookout batch)  {a:6.1f} s  {total / a:6.1f} frames/s")
    print(f"  Ray Data map_batches       {d:6.1f} s  {total / d:6.1f} frames/s")
    print(f"  outputs identical: {same}")


if __name__ == "__main__":
    main()
