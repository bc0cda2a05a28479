"""The event log (``events.jsonl``: a line when an event starts, one when it ends) and its SQLite
index (``events.db``, WAL mode), which ``lookout events`` queries and retention prunes.

The database is the record of what is Lookout's in the folder: retention deletes only files listed
in its ``files`` table (paths relative to the folder, inside it), so nothing a user put there is
ever removed. One store for every stream of a process; its methods take a lock (the streams'
recorder threads call it).
"""
from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path

from detector.util.write_guard import Named, WriteRefused, same_file

EVENTS_DB, EVENTS_LOG = "events.db", "events.jsonl"

SCHEMA = """
CREATE TABLE IF NOT EXISTS lookout_meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS events (
    id TEXT PRIMARY KEY, stream TEXT, kind TEXT, label TEXT, track_id INTEGER, zone TEXT, line TEXT,
    start_pts_ms REAL, end_pts_ms REAL, start_time TEXT, end_time TEXT, start_epoch REAL, end_epoch REAL,
    score REAL, clip TEXT, clip_start_pts_ms REAL, clip_end_pts_ms REAL, snapshot TEXT, crop TEXT,
    open INTEGER, record TEXT);
CREATE INDEX IF NOT EXISTS events_start ON events (start_epoch);
CREATE TABLE IF NOT EXISTS files (path TEXT PRIMARY KEY, bytes INTEGER, added_epoch REAL);
CREATE TABLE IF NOT EXISTS clip_parts (clip TEXT, part TEXT PRIMARY KEY);
"""
MARK = ("app", "lookout-events")


def is_lookout_db(path: str | Path) -> bool:
    try:
        con = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            row = con.execute("SELECT value FROM lookout_meta WHERE key = ?", (MARK[0],)).fetchone()
        finally:
            con.close()
    except sqlite3.Error:
        return False
    return row is not None and row[0] == MARK[1]


def open_db(folder: str | Path, readonly: bool = False) -> sqlite3.Connection:
    db = Path(folder) / EVENTS_DB
    if readonly:
        return sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=10)
    con = sqlite3.connect(db, timeout=10, check_same_thread=False)
    con.execute("PRAGMA journal_mode=WAL")  # readers (lookout events) never block the writer
    # WAL's NORMAL: no fsync a commit (a power cut may lose the last events, never corrupts the index);
    # a start's commit then never holds the lock the output thread takes for a new event's id
    con.execute("PRAGMA synchronous=NORMAL")
    con.executescript(SCHEMA)
    con.execute("INSERT OR IGNORE INTO lookout_meta VALUES (?, ?)", MARK)
    con.commit()
    return con


class FolderBusy(OSError):
    """Another process holds the folder (``EventStore(exclusive=True)``)."""


class EventStore:
    def __init__(self, folder: str | Path, max_bytes: float = 0, max_days: float = 0, exclusive: bool = False):
        """Runs share the folder (a shared ``flock`` on events.jsonl, which the kernel drops when the
        process dies); ``exclusive`` (``lookout recover``) raises FolderBusy while any run holds it."""
        self.root = Path(folder)
        self.root.mkdir(parents=True, exist_ok=True)
        self.max_bytes, self.max_days = max_bytes, max_days
        self._lock = threading.Lock()
        self._log = open(self.root / EVENTS_LOG, "a", encoding="utf-8")
        try:
            _flock(self._log, exclusive)
        except OSError:
            self._log.close()
            raise FolderBusy(f"{self.root}: a running Lookout writes events there") from None
        self.con = open_db(self.root)
        self.deleted = 0
        self.min_free = None  # io.retention.MinFree: --min-free

    def unique(self, rel: str) -> str:
        """``rel``, or ``rel`` with -2, -3 ... before the suffix: never a name already there."""
        p = Path(rel)
        n = 1
        while (self.root / rel).exists() or self._known(rel):
            n += 1
            rel = str(p.with_name(f"{p.stem}-{n}{p.suffix}"))
        return rel

    def _known(self, rel: str) -> bool:
        with self._lock:
            return self.con.execute("SELECT 1 FROM files WHERE path = ?", (rel,)).fetchone() is not None

    def event_id(self, eid: str) -> str:
        """An id not yet in the index (a second run into the same folder gets -r2, -r3 ...)."""
        n, out = 1, eid
        with self._lock:
            while self.con.execute("SELECT 1 FROM events WHERE id = ?", (out,)).fetchone():
                n += 1
                out = f"{eid}-r{n}"
        return out

    def started(self, rec: dict) -> None:
        with self._lock:
            self._write_log("start", rec)
            self.con.execute(
                "INSERT INTO events (id, stream, kind, label, track_id, zone, line, start_pts_ms, start_time, "
                "start_epoch, score, clip, clip_start_pts_ms, snapshot, crop, open, record) "
                "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,1,?)",
                (rec["id"], rec["stream"], rec["kind"], rec["label"], rec["track_id"], rec.get("zone"),
                 rec.get("line"), rec["start_pts_ms"], rec["start_time"], _epoch(rec["start_time"]), rec["score"],
                 rec["clip"], rec["clip_start_pts_ms"], rec["snapshot"], rec["crop"], json.dumps(rec)))
            self.con.commit()

    def ended(self, rec: dict) -> None:
        with self._lock:
            self._write_log("end", rec)
            self.con.execute("UPDATE events SET end_pts_ms=?, end_time=?, end_epoch=?, score=?, snapshot=?, crop=?, "
                             "open=0, record=? WHERE id=?",
                             (rec["end_pts_ms"], rec["end_time"], _epoch(rec["end_time"]), rec["score"],
                              rec["snapshot"], rec["crop"], json.dumps(rec), rec["id"]))
            self.con.commit()

    def add_file(self, rel: str) -> None:
        """A file Lookout wrote in the folder: Lookout's own from now on (retention may delete it)."""
        size = (self.root / rel).stat().st_size
        with self._lock:
            self.con.execute("INSERT OR REPLACE INTO files VALUES (?,?,?)", (rel, size, time.time()))
            self.con.commit()

    def clip_done(self, rel: str, end_pts_ms: float) -> None:
        self.add_file(rel)
        with self._lock:
            self.con.execute("UPDATE events SET clip_end_pts_ms=? WHERE clip=?", (end_pts_ms, rel))
            self.con.commit()

    def clip_part(self, clip: str, part: str) -> None:
        """``part`` continues ``clip`` (--max-clip): kept and deleted with it."""
        with self._lock:
            self.con.execute("INSERT OR REPLACE INTO clip_parts VALUES (?,?)", (clip, part))
            self.con.commit()

    def parts_of(self, clip: str | None) -> list[str]:
        if not clip:
            return []
        with self._lock:
            return [r[0] for r in self.con.execute("SELECT part FROM clip_parts WHERE clip=? ORDER BY part", (clip,))]

    def _write_log(self, what: str, rec: dict) -> None:
        self._log.write(json.dumps({"event": what, **rec}) + "\n")
        self._log.flush()

    def prune(self) -> int:
        """Retention: oldest ended events first (by start) until the folder's files fit ``max_bytes``,
        and every ended event older than ``max_days``; an event's clip goes when no event left uses it.
        Returns how many events were deleted."""
        short = self.min_free is not None and (self.min_free.bytes or self.min_free.percent)
        if not (self.max_bytes or self.max_days or short):
            return 0
        deleted = 0
        with self._lock:
            if self.max_days:
                cutoff = time.time() - self.max_days * 86400
                for (eid,) in self.con.execute("SELECT id FROM events WHERE open=0 AND end_epoch < ? "
                                               "ORDER BY start_epoch, id", (cutoff,)).fetchall():
                    deleted += self._delete(eid)
            if self.max_bytes:
                total = self.con.execute("SELECT COALESCE(SUM(bytes), 0) FROM files").fetchone()[0]
                for (eid,) in self.con.execute("SELECT id FROM events WHERE open=0 ORDER BY start_epoch, id").fetchall():
                    if total <= self.max_bytes:
                        break
                    before = self.con.execute("SELECT COALESCE(SUM(bytes), 0) FROM files").fetchone()[0]
                    deleted += self._delete(eid)
                    total -= before - self.con.execute("SELECT COALESCE(SUM(bytes), 0) FROM files").fetchone()[0]
            if short:
                for (eid,) in self.con.execute("SELECT id FROM events WHERE open=0 ORDER BY start_epoch, id").fetchall():
                    if not self.min_free.short_of(self.root):
                        break
                    deleted += self._delete(eid)
            self.con.commit()
        self.deleted += deleted
        return deleted

    def _delete(self, eid: str) -> int:
        """One event's row and the files only it used (the caller holds the lock)."""
        row = self.con.execute("SELECT clip, snapshot, crop FROM events WHERE id=?", (eid,)).fetchone()
        self.con.execute("DELETE FROM events WHERE id=?", (eid,))
        for rel in [r for r in row or () if r]:
            used = self.con.execute("SELECT 1 FROM events WHERE clip=? OR snapshot=? OR crop=? LIMIT 1",
                                    (rel, rel, rel)).fetchone()
            owned = self.con.execute("SELECT 1 FROM files WHERE path=?", (rel,)).fetchone()
            if used or not owned:
                continue  # still another event's, or never recorded as ours (a clip still being written)
            parts = [r[0] for r in self.con.execute("SELECT part FROM clip_parts WHERE clip=?", (rel,))]
            for path in [rel, *parts]:
                if not self.con.execute("SELECT 1 FROM files WHERE path=?", (path,)).fetchone():
                    continue  # a part still being written is not Lookout's to delete yet
                target = (self.root / path).resolve()
                if self.root.resolve() in target.parents:
                    try:
                        os.unlink(target)
                    except FileNotFoundError:
                        pass
                self.con.execute("DELETE FROM files WHERE path=?", (path,))
            self.con.execute("DELETE FROM clip_parts WHERE clip=?", (rel,))
        return 1

    def close(self) -> None:
        with self._lock:
            if not self._log.closed:
                self._log.close()
            self.con.close()


def _flock(f, exclusive: bool) -> None:
    try:
        import fcntl
    except ImportError:  # Windows: no flock; recover then trusts the user that no run is going
        return
    fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)


def _epoch(iso_time: str | None) -> float | None:
    if iso_time is None:
        return None
    from datetime import datetime
    return datetime.fromisoformat(iso_time.replace("Z", "+00:00")).timestamp()


def check_events_dir(folder: str, inputs: list[Named]) -> None:
    """--events DIR: never an input or a folder holding one, never a file, writable, and its
    events.db / events.jsonl only Lookout's own (a log without its index, or a database that is not
    Lookout's, is someone else's). WriteRefused (one line) before anything loads."""
    root = Path(folder)
    real = os.path.realpath(root)
    for i in inputs:
        p = os.path.realpath(i.path)
        if same_file(root, i.path) or p.startswith(real.rstrip(os.sep) + os.sep):
            raise WriteRefused(f"--events {folder} is (or holds) the input {i.shown()}: pick a folder of its own "
                               f"for events")
    if root.exists() and not root.is_dir():
        raise WriteRefused(f"--events {folder} is a file, not a folder; pick a folder for events")
    parent = root if root.is_dir() else _existing_parent(root)
    if not parent.is_dir():
        raise WriteRefused(f"--events {folder}: {str(parent)!r} is a file, so the folder cannot be made; pick "
                           f"another folder")
    if not _can_write(parent):
        raise WriteRefused(f"--events {folder}: {str(parent)!r} is not writable; pick another folder")
    if not root.is_dir():
        return
    db, log = root / EVENTS_DB, root / EVENTS_LOG
    if db.exists() and not is_lookout_db(db):
        raise WriteRefused(f"--events {folder}: {EVENTS_DB} there is not Lookout's; pick another folder")
    if log.exists() and not db.exists():
        raise WriteRefused(f"--events {folder}: {EVENTS_LOG} there has no Lookout index beside it, so Lookout did "
                           f"not write it; pick another folder")


def _can_write(folder: Path) -> bool:
    """Try it: permissions alone do not tell (root ignores them; a read-only mount does not)."""
    import tempfile
    try:
        with tempfile.TemporaryFile(dir=folder, prefix=".lookout-probe-"):
            return True
    except OSError:
        return False


def _existing_parent(p: Path) -> Path:
    p = p.absolute()
    while not p.exists():
        p = p.parent
    return p
