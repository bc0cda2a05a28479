"""``lookout crops SOURCE --label person --out crops/``: the sharpest crops of each track, named
``<source>_<label>_t<track>_f<frame>.jpg`` so they sort by track, for sorting into class folders.

SOURCE may be an events folder (what ``--events`` writes): then the clips of its events of those
labels are read, each as a source of its own (named after the clip), so the crops come from the
moments something was seen, a few per track, cut as from a file."""
from __future__ import annotations

import argparse
import os
import sys

from detector.models.registry import DEFAULT_MODEL


def crops_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="lookout crops", description="Write the sharpest few crops of each tracked "
                                "object of some labels from a video, image folder or stream, to sort into "
                                "class folders for lookout train (docs/classify.md).")
    p.add_argument("source", metavar="SOURCE", help="video file, image folder or glob, stream URL, or an --events "
                   "folder (the clips of its events of these labels)")
    p.add_argument("--label", required=True, metavar="LABELS", help="detector labels to collect, e.g. person or person,car")
    p.add_argument("--out", required=True, metavar="DIR", help="folder for the crops (made if missing)")
    p.add_argument("--per-track", type=int, default=3, metavar="N", help="crops kept per track (1-20; default 3)")
    p.add_argument("--min-size", type=int, default=32, metavar="PX", help="smallest crop side kept (8-1000; default 32)")
    p.add_argument("--model", default=DEFAULT_MODEL, help=f"detector (default {DEFAULT_MODEL})")
    p.add_argument("--conf", type=float, default=0.5, help="detector score threshold (default 0.5)")
    p.add_argument("--max-frames", type=int, default=0, help="stop after this many frames (0: all)")
    p.add_argument("--overwrite", "-y", action="store_true", help="replace crops of an earlier run of this source")
    return p


def event_clips(folder: str, labels: set[str]) -> tuple[list[str], int]:
    """The clip files (and --max-clip parts) of the object events of ``labels`` in an events folder,
    in time order, and how many of their clips are gone (pruned by retention, or never recorded);
    ValueError (one line) when there are none to read."""
    import sqlite3

    from detector.cli.events_cmd import query
    from detector.events.store import open_db
    records = [r for r in query(folder, kind="object") if r.get("label") in labels]
    if not records:
        raise ValueError(f"events folder {folder!r} holds no events of {', '.join(sorted(labels))}; give another "
                         f"--label (lookout events {folder} lists what it holds)")
    clips = sorted({r["clip"] for r in records if r.get("clip")})
    con = open_db(folder, readonly=True)
    try:
        parts = {c: [r[0] for r in con.execute("SELECT part FROM clip_parts WHERE clip=? ORDER BY part", (c,))]
                 for c in clips}
    except sqlite3.Error:  # an index from before --max-clip had parts
        parts = {}
    finally:
        con.close()
    files = [os.path.join(folder, rel) for c in clips for rel in [c, *parts.get(c, [])]]
    present = [f for f in files if os.path.isfile(f)]
    if not present:
        raise ValueError(f"events folder {folder!r}: none of the {len(records)} events of {', '.join(sorted(labels))} "
                         f"has its clip left (pruned, or recorded without clips); give a video file instead")
    return present, len(files) - len(present)


def is_events_folder(path: str) -> bool:
    from detector.events.store import EVENTS_DB, is_lookout_db
    return os.path.isdir(path) and is_lookout_db(os.path.join(path, EVENTS_DB))


def crops_main(argv: list[str]) -> int:
    a = crops_parser().parse_args(argv)
    labels = {s.strip() for s in a.label.split(",") if s.strip()}
    from detector.train.crops import crop_name, source_stem
    checks = [(1 <= a.per_track <= 20, f"expected --per-track from 1 to 20, got {a.per_track}"),
              (8 <= a.min_size <= 1000, f"expected --min-size from 8 to 1000 pixels, got {a.min_size}"),
              (a.max_frames >= 0, f"expected --max-frames >= 0, got {a.max_frames}"),
              (bool(labels), "expected --label to name a detector label, e.g. person")]
    for ok, message in checks:
        if not ok:
            raise ValueError(message)
    if os.path.exists(a.out) and not os.path.isdir(a.out):
        raise ValueError(f"--out {a.out!r} is a file; give a folder for the crops")
    sources, gone = (event_clips(a.source, labels) if is_events_folder(a.source) else ([a.source], 0))
    stems = [source_stem(s) for s in sources]
    if os.path.isdir(a.out) and not a.overwrite:
        earlier = [n for n in os.listdir(a.out) if n.endswith(".jpg") and any(n.startswith(s + "_") for s in stems)]
        if earlier:
            raise ValueError(f"--out {a.out!r} already holds {len(earlier)} crop(s) of {source_stem(a.source)}; pass "
                             f"--overwrite (-y) to replace them, or pick another folder")
    from detector.cli.options import _check_classes
    _check_classes(a.model, tuple(sorted(labels)), "--label")
    from detector.io.sources import input_files
    from detector.util.write_guard import same_file
    if same_file(a.out, a.source) or any(same_file(a.out, f) for s in sources for f in input_files(s)):
        raise ValueError(f"--out {a.out!r} is an input; pick another folder")
    import cv2
    from detector.engine.run import RunConfig, load_models, watch
    from detector.train.crops import CropCollector
    options = dict(model=a.model, conf=a.conf, classes=tuple(sorted(labels)), track=True, max_frames=a.max_frames,
                   progress=False)
    models = load_models(RunConfig(source=sources[0], **options))
    os.makedirs(a.out, exist_ok=True)
    written, tracks = 0, set()

    def save(stem, items):
        nonlocal written
        for tid, label, frame, crop in items:
            path = os.path.join(a.out, crop_name(stem, label, tid, frame))
            ok, buf = cv2.imencode(".jpg", crop, [cv2.IMWRITE_JPEG_QUALITY, 95])
            if ok:
                from detector.util.files import replace_bytes
                replace_bytes(path, buf.tobytes())
                written += 1
                tracks.add((stem, tid))
    frames = 0
    for source, stem in zip(sources, stems):  # one after another: an events folder may hold hundreds of clips
        collector = CropCollector(labels, a.per_track, a.min_size)  # track ids are the source's own
        for _, result in watch([source], models=models, **options):
            save(stem, collector.add(result.frame.index, result.frame.image, result.detections))
            frames += 1
        save(stem, collector.finish())
    n = len(sources)
    where = f" ({n} event clip{'s' * (n != 1)}{f'; {gone} gone' if gone else ''})" if sources != [a.source] else ""
    print(f"lookout crops: {written} crops of {len(tracks)} tracks ({', '.join(sorted(labels))}) from {frames} "
          f"frames{where} in {a.out}; sort them into {a.out}/<class>/ folders (and a 'none' folder), then "
          f"lookout train {a.out} --out model.onnx --objects {','.join(sorted(labels))}", file=sys.stderr)
    return 0
