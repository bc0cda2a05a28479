"""``lookout batch``'s driver: skip what is done, run the rest in-process or on Ray, summarise.

Exit codes: 0 every input done (or done before); 1 some input failed (the summary says why);
130 interrupted (finished inputs stay, nothing partial is left).
"""
from __future__ import annotations

import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Callable

from detector.io.sources import mask_url
from detector.batch.inputs import BatchInput
from detector.batch.job import BatchSettings, as_dict, attempt_run_id, base_record, finished_record, process_input
from detector.batch.summary import write_summary


def run_batch(settings: BatchSettings, inputs: list[BatchInput], ray: str = "off", workers: int = 0,
              threads: int = 1, force: bool = False, stop: threading.Event | None = None,
              progress: bool = True, log: Callable[[str], None] = lambda m: print(m, file=sys.stderr)) -> int:
    """``ray``: off (this process, one input after another), local, or a cluster address."""
    stop = stop or threading.Event()
    t0 = time.monotonic()
    Path(settings.out_dir, ".lookout-batch").mkdir(parents=True, exist_ok=True)
    records: dict[str, dict] = {}
    todo = []
    for inp in inputs:
        rec = None if force else finished_record(settings, inp)
        if inp.problem:  # missing, matched nothing: no worker needed to say so
            records[inp.name] = base_record(inp, "failed", f"{mask_url(inp.source)}: {inp.problem}")
        elif rec is not None:
            records[inp.name] = {**rec, "status": "skipped", "warnings": rec["warnings"] + ["done before with the same settings; --force redoes it"]}
        else:
            todo.append(inp)
    skipped = sum(r["status"] == "skipped" for r in records.values())
    if skipped:
        log(f"lookout: {skipped} of {len(inputs)} inputs already done with these settings; "
            f"skipping them (--force redoes them)")
    bar = _Progress(len(todo), progress, log)

    def on_record(rec: dict) -> None:
        records[rec["name"]] = rec
        bar.update(rec)

    facts: dict = {"mode": "off" if ray == "off" else ("local" if ray == "local" else "cluster")}
    try:
        if todo and ray == "off":
            facts.update(_run_in_process(settings, todo, on_record, stop))
        elif todo:
            from detector.batch.ray_runner import run_on_ray
            facts.update(run_on_ray(settings, todo, on_record, stop, ray, workers, threads))
    finally:
        bar.close()
        _remove_own_attempts(settings)
    for inp in inputs:  # an input the run never reached
        records.setdefault(inp.name, base_record(inp, "not run"))
    ordered = [records[inp.name] for inp in inputs]
    wall = time.monotonic() - t0
    frames = sum(r["frames"] for r in ordered if r["status"] == "done")
    facts.update(wall_s=round(wall, 2), fps=round(frames / wall, 2) if wall else 0.0, settings=as_dict(settings))
    write_summary(settings.out_dir, ordered, facts)
    failed = [r for r in ordered if r["status"] == "failed"]
    for r in failed:
        log(f"lookout: failed: {r['name']}: {r['error']}")
    done = sum(r["status"] in ("done", "skipped") for r in ordered)
    log(f"lookout: {done} of {len(ordered)} inputs done, {len(failed)} failed, {frames} frames in {wall:.1f} s "
        f"({facts['fps']:.1f} fps); summary in {Path(settings.out_dir) / 'summary.json'}")
    if stop.is_set():
        return 130
    return 1 if failed or done < len(ordered) else 0


def _run_in_process(settings: BatchSettings, todo: list[BatchInput], on_record, stop) -> dict:
    from detector.engine.run import load_models
    t0 = time.monotonic()
    models = load_models(settings.config, warn=lambda m: None)
    facts = {"startup_s": round(time.monotonic() - t0, 2), "workers": 1}
    for inp in todo:
        if stop.is_set():
            break
        on_record(process_input(models, settings, inp, stop=stop))
    return facts


def _remove_own_attempts(settings: BatchSettings) -> None:
    """Stage folders of this run's attempts that were cut short (Ctrl-C, workers killed by shutdown)."""
    work = settings.state / "work"
    for d in work.glob("*") if work.is_dir() else []:
        if attempt_run_id(d) == settings.run_id:
            shutil.rmtree(d, ignore_errors=True)


class _Progress:
    """A bar over inputs with frames/s on a terminal; one line per finished input otherwise."""

    def __init__(self, total: int, enabled: bool, log):
        self.total, self.log, self.n, self.frames, self.t0 = total, log, 0, 0, time.monotonic()
        self.bar = None
        if enabled and total and sys.stderr.isatty():
            from tqdm import tqdm
            self.bar = tqdm(total=total, unit="input", dynamic_ncols=True, file=sys.stderr)
        self.enabled = enabled

    def update(self, rec: dict) -> None:
        self.n += 1
        self.frames += rec["frames"] if rec["status"] == "done" else 0
        rate = self.frames / max(time.monotonic() - self.t0, 1e-9)
        if self.bar is not None:
            self.bar.set_postfix_str(f"{rate:.1f} frames/s")
            self.bar.update(1)
        elif self.enabled:
            where = f" on {rec['node']}" if rec.get("node") else ""
            retry = f", attempt {rec['attempts']}" if rec.get("attempts", 0) > 1 else ""
            what = rec["error"] if rec["status"] == "failed" else f"{rec['frames']} frames, {rec['fps']:.1f} fps"
            self.log(f"lookout: [{self.n}/{self.total}] {rec['name']}: {rec['status']}: {what}{where}{retry}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
