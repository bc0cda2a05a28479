"""One input through the engine, exactly once: staged, then renamed into place, then recorded.

Layout of the output folder ``DIR``::

    DIR/<name>.jsonl (or .csv), DIR/<name>.mp4 with --video     complete outputs only
    DIR/.lookout-batch/records/<name>.json                      what happened, the settings, the input's fingerprint
    DIR/.lookout-batch/work/<name>.<attempt>/                   an attempt in progress (removed when it ends)

An attempt writes into its own work folder; only when the run ends cleanly are its files renamed
into ``DIR`` (same filesystem: atomic), and the record is written last. A worker killed mid-input
leaves only its work folder, which the next attempt counts (the summary's ``attempts``) and removes.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path

from detector.engine.run import RunConfig, fresh_models, run
from detector.util.files import replace_text
from detector.util.write_guard import Named, WriteRefused, same_file
from detector.io.sources import input_files, mask_url
from detector.batch.inputs import BatchInput

STATE_DIR = ".lookout-batch"


@dataclass(frozen=True)
class BatchSettings:
    """What every input is processed with. ``config``: the single-source options (its source and
    output paths are filled in per input); ``run_id``: this invocation, to tell its own earlier
    attempts from a previous run's leftovers."""

    config: RunConfig
    out_dir: str
    video: bool = False
    fmt: str = "jsonl"          # jsonl | csv
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    def key(self) -> dict:
        """The settings that shape the outputs: a rerun with the same key may skip finished inputs."""
        c = self.config
        return {"model": c.model, "conf": c.conf, "iou": c.iou, "classes": list(c.classes),
                "classifier": c.classifier, "classify": c.classify, "track": c.track,
                "counters": [x.to_json() for x in c.counters], "tracker": [c.tracker_match, c.tracker_buffer],
                "max_frames": c.max_frames, "duration": c.duration, "device": c.device, "backend": c.backend,
                "half": c.half, "video": self.video, "codec": c.codec, "crf": c.crf, "bitrate": c.bitrate,
                "format": self.fmt,
                # only when on, so records written before --int8 existed still match a plain rerun
                **({"int8": True, "int8_calibration": c.int8_calibration} if c.int8 else {}),
                **({"preset": c.preset} if c.preset else {})}

    def outputs(self, name: str) -> list[str]:
        return [f"{name}.{self.fmt}"] + ([f"{name}.mp4"] if self.video else [])

    @property
    def state(self) -> Path:
        return Path(self.out_dir) / STATE_DIR


def record_path(settings: BatchSettings, name: str) -> Path:
    return settings.state / "records" / f"{name}.json"


def finished_record(settings: BatchSettings, inp: BatchInput) -> dict | None:
    """The record of an earlier run that already made this input's outputs with these settings, or
    None when it has to be (re)done."""
    fp = inp.fingerprint()
    if fp is None:
        return None
    try:
        rec = json.loads(record_path(settings, inp.name).read_text())
    except (OSError, ValueError):
        return None
    same = (rec.get("status") == "done" and rec.get("key") == settings.key() and rec.get("fingerprint") == fp
            and rec.get("source") == mask_url(inp.source))
    marks = rec.get("outputs") or {}
    if not same or not all(file_mark(Path(settings.out_dir) / o) == marks.get(o) for o in settings.outputs(inp.name)):
        return None  # an output missing, or replaced since it was written: redo it
    return rec


def file_mark(path: Path) -> list | None:
    """What tells a file batch wrote from one put there since: [size, mtime in ns]; None if absent."""
    try:
        st = path.stat()
    except OSError:
        return None
    return [st.st_size, st.st_mtime_ns]


def own_outputs(settings: BatchSettings) -> dict[str, list]:
    """Resolved path -> mark of every output the records in ``settings.out_dir`` say batch wrote."""
    own: dict[str, list] = {}
    for path in sorted((settings.state / "records").glob("*.json")):
        try:
            rec = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        marks = rec.get("outputs")
        if marks is None and rec.get("status") == "done":  # a record from before marks were kept
            marks = {n: file_mark(Path(settings.out_dir) / n) for n in _legacy_outputs(rec, path.stem)}
        for name, mark in (marks or {}).items():
            if isinstance(mark, list) and "/" not in name:
                own[os.path.realpath(Path(settings.out_dir) / name)] = mark
    return own


def _legacy_outputs(rec: dict, name: str) -> list[str]:
    key = rec.get("key") or {}
    return [f"{name}.{key.get('format', 'jsonl')}"] + ([f"{name}.mp4"] if key.get("video") else [])


def is_own_output(path: str, own: dict[str, list]) -> bool:
    """``path`` is a file batch wrote and nobody has changed since."""
    real = os.path.realpath(path)
    return real in own and file_mark(Path(real)) == own[real]


def check_batch_writes(settings: BatchSettings, inputs: list[BatchInput], own: dict[str, list],
                       overwrite: bool = False) -> None:
    """WriteRefused (one line) when an input's output would land on any input, or on a file in
    ``--out`` that batch did not write (unless ``overwrite``). Before anything loads."""
    files = [Named("input", f) for i in inputs if i.problem is None for f in input_files(i.source)]
    strangers = []
    for inp in inputs:
        if inp.problem is not None:
            continue
        for name in settings.outputs(inp.name):
            target = str(Path(settings.out_dir) / name)
            clash = next((f for f in files if same_file(target, f.path)), None)
            if clash is not None:
                raise WriteRefused(f"--out {settings.out_dir}: {inp.name}'s output {target} would be written over "
                                   f"the input {clash.path}; Lookout never writes over an input: pick another --out")
            if os.path.lexists(target) and not overwrite and not is_own_output(target, own):
                strangers.append(target)
    if strangers:
        raise WriteRefused(f"--out holds {len(strangers)} file(s) lookout batch did not write ({strangers[0]}"
                           f"{', ...' if len(strangers) > 1 else ''}); move them, pick another --out, or pass "
                           f"--overwrite (-y) to replace them")


def base_record(inp: BatchInput, status: str, error: str | None = None) -> dict:
    return {"name": inp.name, "source": mask_url(inp.source), "status": status, "frames": 0, "fps": 0.0,
            "seconds": 0.0, "detections": {}, "warnings": [], "error": error, "node": "", "pid": 0,
            "attempts": 0}


def process_input(models, settings: BatchSettings, inp: BatchInput, node: str = "",
                  stop: threading.Event | None = None) -> dict:
    """Run one input into ``settings.out_dir``; returns its record (status done | failed | interrupted).

    Never raises for a bad input: what went wrong is the record's ``error``.
    """
    rec = base_record(inp, "failed")
    rec.update(node=node or socket.gethostname(), pid=os.getpid())
    work = settings.state / "work"
    work.mkdir(parents=True, exist_ok=True)
    earlier = _earlier_attempts(work, inp.name, settings.run_id)
    rec["attempts"] = len(earlier) + 1
    stage = work / f"{inp.name}.{uuid.uuid4().hex[:8]}"
    stage.mkdir()
    (stage / "attempt.json").write_text(json.dumps({"run_id": settings.run_id, "pid": os.getpid(), "node": rec["node"]}))
    warnings: list[str] = []
    config = replace(settings.config, source=inp.source, detections=str(stage / f"{inp.name}.{settings.fmt}"),
                     output=str(stage / f"{inp.name}.mp4") if settings.video else None, progress=False,
                     stats_json=None, dump_dir=None)
    t0 = time.monotonic()
    try:
        try:
            report = run(config, stop, models=fresh_models(models, config),
                         warn=lambda m: warnings.append(m.removeprefix("lookout: ").removeprefix("warning: ")))
        except ValueError as e:  # not processable: not found, not a video, unreadable
            rec["error"] = mask_url(str(e))
            return rec
        rec["seconds"] = round(time.monotonic() - t0, 3)
        rec["frames"] = report.stats["frames"]["inferred"]
        rec["fps"] = round(rec["frames"] / rec["seconds"], 2) if rec["seconds"] else 0.0
        rec["warnings"] = [mask_url(w) for w in warnings + report.warnings]
        if report.error:
            rec["error"] = mask_url(report.error)
            return rec
        if report.stopped_by == "signal":
            rec["status"] = "interrupted"
            return rec
        rec["detections"] = count_labels(stage / f"{inp.name}.{settings.fmt}")
        if "counts" in report.stats:
            rec["counts"] = report.stats["counts"]
        for name in settings.outputs(inp.name):
            os.replace(stage / name, Path(settings.out_dir) / name)
        rec["outputs"] = {name: file_mark(Path(settings.out_dir) / name) for name in settings.outputs(inp.name)}
        rec["status"] = "done"
        write_record(settings, inp, rec)
        return rec
    finally:
        for d in [stage, *earlier]:
            shutil.rmtree(d, ignore_errors=True)


def write_record(settings: BatchSettings, inp: BatchInput, rec: dict) -> None:
    path = record_path(settings, inp.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    replace_text(path, json.dumps({**rec, "key": settings.key(), "fingerprint": inp.fingerprint()}, indent=1))


def attempt_run_id(stage: Path) -> str | None:
    """The run that made an attempt folder; None when it can't be told (cut short while starting)."""
    try:
        return json.loads((stage / "attempt.json").read_text()).get("run_id")
    except (OSError, ValueError):
        return None


def _earlier_attempts(work: Path, name: str, run_id: str) -> list[Path]:
    """This run's earlier attempts at ``name`` (workers that died); a previous run's leftovers are
    removed without being counted."""
    mine = []
    for d in work.glob(f"{name}.*"):
        if not d.is_dir() or d.name.rsplit(".", 1)[0] != name:
            continue
        if attempt_run_id(d) == run_id:
            mine.append(d)
        else:
            shutil.rmtree(d, ignore_errors=True)
    return mine


def count_labels(path: Path) -> dict[str, int]:
    """Detections per class label in a finished detections file (JSONL or CSV)."""
    counts: Counter = Counter()
    with open(path, newline="") as f:
        if path.suffix == ".csv":
            for row in csv.DictReader(f):
                counts[row["label"]] += 1
        else:
            for line in f:
                counts.update(d["label"] for d in json.loads(line)["detections"])
    return dict(sorted(counts.items()))


def as_dict(settings: BatchSettings) -> dict:
    return {"out_dir": settings.out_dir, "video": settings.video, "format": settings.fmt, **settings.key()}

