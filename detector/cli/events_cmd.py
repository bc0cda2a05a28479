"""``lookout events DIR``: the events an ``--events`` folder holds, newest first, from its index."""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from pathlib import Path

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def since_seconds(text: str) -> float:
    """'90s', '15m', '2h', '3d', '1w' -> seconds (argparse type)."""
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", text.lower())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration like 90s, 15m, 2h, 3d or 1w, got {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2) or "s"]


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lookout events", description="List the events an --events folder holds.")
    ap.add_argument("folder", metavar="DIR", help="the folder given to --events")
    ap.add_argument("--stream", help="only this stream")
    ap.add_argument("--label", help="only this label (person, car, ...)")
    ap.add_argument("--kind", help="only this kind (object, line_cross, zone_enter, zone_exit, loiter, count_above)")
    ap.add_argument("--since", type=since_seconds, metavar="AGE", help="only events that started within AGE, e.g. 2h")
    ap.add_argument("--limit", type=int, default=0, help="at most this many (newest first)")
    ap.add_argument("--json", action="store_true", help="one JSON record a line, as events.jsonl holds them")
    return ap


def query(folder: str | Path, stream=None, label=None, kind=None, since_s=None, limit=0) -> list[dict]:
    """Event records from DIR/events.db, newest first. ValueError (one line) for a folder without one."""
    from detector.events.store import EVENTS_DB
    from detector.events.store import is_lookout_db, open_db
    db = Path(folder) / EVENTS_DB
    if not db.is_file() or not is_lookout_db(db):
        raise ValueError(f"{str(folder)!r} holds no Lookout events index ({EVENTS_DB}); give the folder a run's "
                         f"--events wrote")
    where, args = [], []
    for col, value in (("stream", stream), ("label", label), ("kind", kind)):
        if value:
            where.append(f"{col} = ?")
            args.append(value)
    if since_s is not None:
        where.append("start_epoch >= ?")
        args.append(time.time() - since_s)
    sql = "SELECT record, clip_end_pts_ms FROM events" + (" WHERE " + " AND ".join(where) if where else "") + \
        " ORDER BY start_epoch DESC, id DESC" + (f" LIMIT {int(limit)}" if limit > 0 else "")
    con = open_db(folder, readonly=True)
    try:
        rows = con.execute(sql, args).fetchall()
    finally:
        con.close()
    return [{**json.loads(r), "clip_end_pts_ms": c} for r, c in rows]


def events_main(argv: list[str]) -> int:
    try:
        return _list(build_parser().parse_args(argv))
    except BrokenPipeError:  # lookout events DIR | head: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # so the exit's flush is quiet too
        return 0


def _list(args) -> int:
    records = query(args.folder, args.stream, args.label, args.kind, args.since, args.limit)
    if args.json:
        for r in records:
            print(json.dumps(r))
        return 0
    if not records:
        print("no events", file=sys.stderr)
        return 0
    print(f"{'start':24} {'end':24} {'stream':12} {'kind':11} {'label':10} {'track':>5} {'score':>5}  where  clip")
    for r in records:
        where = r.get("zone") or r.get("line") or ""
        print(f"{r['start_time']:24} {r['end_time'] or 'open':24} {r['stream']:12.12} {r['kind']:11} "
              f"{r['label']:10.10} {'' if r['track_id'] is None else r['track_id']:>5} {r['score']:5.2f}  "
              f"{where}  {r['clip'] or ''}")
    return 0
