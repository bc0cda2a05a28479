"""``lookout recover`` in an ``--events`` folder: the clips a killed run left become the index's files,
and the events it left open are closed with ``"end_reason": "interrupted"`` (an end line in
events.jsonl, the same in the index), ending where their clip ends (else where they started).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

from detector.events.rules import iso
from detector.events.store import EVENTS_DB, EVENTS_LOG, EventStore, is_lookout_db
from detector.io.recover import Finished


def is_events_folder(folder: Path) -> bool:
    return (folder / EVENTS_DB).is_file() and is_lookout_db(folder / EVENTS_DB)


def _cut_partial_line(log: Path) -> bool:
    """A kill mid-line leaves a line without its newline: cut it (it cannot be parsed)."""
    if not log.is_file() or log.stat().st_size == 0:
        return False
    with open(log, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep == len(data):
            return False
        f.truncate(keep)
    return True


def close_interrupted(folder: Path, clips: list[Finished]) -> list[str]:
    """Register ``clips`` (recovered files under ``folder``) and close the open events; one line each.
    FolderBusy (from EventStore) while a run still writes the folder."""
    store = EventStore(folder, exclusive=True)
    lines = []
    try:
        if _cut_partial_line(folder / EVENTS_LOG):
            lines.append(f"{folder / EVENTS_LOG}: cut its last line, which the kill left half-written")
        ends: dict[str, tuple[float, float]] = {}  # clip (as recorded) -> (its end pts, the file's mtime)
        renamed: dict[str, str] = {}
        root = folder.resolve()
        for f in clips:
            if f.target is None:
                continue
            meant = os.path.relpath(f.left.dest.resolve(), root)
            rel = os.path.relpath(f.target.resolve(), root)
            if rel.startswith(".."):
                continue
            row = store.con.execute("SELECT MIN(clip_start_pts_ms) FROM events WHERE clip=?", (meant,)).fetchone()
            start = row[0] if row and row[0] is not None else 0.0
            if rel != meant:
                with store._lock:
                    store.con.execute("UPDATE events SET clip=? WHERE clip=?", (rel, meant))
                    store.con.commit()
                renamed[meant] = rel
            store.clip_done(rel, start + f.duration_s * 1000)
            ends[rel] = (start + f.duration_s * 1000, f.target.stat().st_mtime)
        rows = store.con.execute("SELECT id, record, start_pts_ms, start_epoch FROM events WHERE open=1 "
                                 "ORDER BY start_epoch, id").fetchall()
        for eid, record, start_pts, start_epoch in rows:
            rec = json.loads(record)
            clip = renamed.get(rec.get("clip"), rec.get("clip"))
            if clip and not (folder / clip).is_file():
                clip = None  # the run was killed before the clip's first fragment was on disk
            end_pts, end_wall = ends.get(clip, (start_pts, start_epoch or (folder / EVENTS_LOG).stat().st_mtime))
            for key in ("snapshot", "crop"):  # written when an event ends: an open one has none
                if rec.get(key) and not (folder / rec[key]).is_file():
                    rec[key] = None
            rec.update(clip=clip, end_pts_ms=round(max(end_pts, start_pts or 0.0), 3), end_time=iso(end_wall),
                       end_reason="interrupted")
            store.ended(rec)
            with store._lock:
                store.con.execute("UPDATE events SET clip=? WHERE id=?", (clip, eid))
                store.con.commit()
            lines.append(f"{folder}: closed open event {eid} ({rec.get('label')}, {rec.get('stream')}) as "
                         f"interrupted" + (f", clip {clip}" if clip else ""))
        check = store.con.execute("PRAGMA integrity_check").fetchone()[0]
        if check != "ok":
            lines.append(f"{folder / EVENTS_DB}: integrity check says {check!r}; kept as it is")
    finally:
        store.close()
    return lines
