"""``--keep AGE`` and ``--min-free SIZE|PCT%``: deleting the oldest of Lookout's own segments.

The record of what is Lookout's is ``.lookout-segments.jsonl`` in the segments' folder: a line per
finished segment (its name, bytes, inode and when it started and ended), appended when the segment is
moved into place. Retention deletes only files that line lists and that are still that file (same
size and inode: a user's file put under the same name later is not ours), oldest first, while any is
older than ``keep_s`` or the folder's file system has less free than asked; the record is rewritten
whole after each deletion, so it always matches the folder. Event clips follow the same settings
through their own index (detector/events/store.py).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from detector.util.files import replace_text

RECORD = ".lookout-segments.jsonl"
_UNITS = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


@dataclass(frozen=True)
class MinFree:
    """Free space to keep: ``bytes``, or ``percent`` of the file system (one of them set)."""

    bytes: float = 0.0
    percent: float = 0.0

    def short_of(self, folder: Path) -> bool:
        """True when ``folder``'s file system has less free space than this."""
        if not (self.bytes or self.percent):
            return False
        usage = shutil.disk_usage(folder)
        if self.percent:
            return usage.free < usage.total * self.percent / 100
        return usage.free < self.bytes


def parse_min_free(text: str) -> MinFree:
    """'5G', '500M', '10%' -> MinFree (K/M/G/T are powers of 1024). ValueError, one line."""
    if not text:
        return MinFree()
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kmgt%]?)b?\s*", str(text).lower())
    if not m or float(m.group(1)) <= 0 or (m.group(2) == "%" and float(m.group(1)) >= 100):
        raise ValueError(f"expected --min-free like 5G, 500M or 10% (a percentage below 100), got {text!r}")
    if m.group(2) == "%":
        return MinFree(percent=float(m.group(1)))
    return MinFree(bytes=float(m.group(1)) * _UNITS[m.group(2)])


class SegmentRecord:
    """The segments one run's ``--segment`` wrote in a folder (and earlier runs', from the record)."""

    def __init__(self, folder: Path, keep_s: float = 0.0, min_free: MinFree = MinFree(), clock=time.time):
        self.folder, self.keep_s, self.min_free, self.clock = Path(folder), keep_s, min_free, clock
        self.path = self.folder / RECORD
        self.deleted: list[str] = []

    def entries(self) -> list[dict]:
        if not self.path.is_file():
            return []
        out = []
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                d = json.loads(line)
                if isinstance(d, dict) and isinstance(d.get("name"), str) and "/" not in d["name"]:
                    out.append(d)
            except ValueError:
                continue  # a line a kill cut short: not a record of anything
        return out

    def add(self, path: Path, start_epoch: float) -> None:
        st = path.stat()
        line = {"name": path.name, "bytes": st.st_size, "inode": st.st_ino, "start": round(start_epoch, 3),
                "end": round(self.clock(), 3)}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(line) + "\n")

    def _ours(self, d: dict) -> bool:
        try:
            st = (self.folder / d["name"]).stat()
        except OSError:
            return False
        return st.st_size == d.get("bytes") and st.st_ino == d.get("inode")

    def prune(self) -> list[str]:
        """Delete the oldest recorded segments past ``keep_s`` or while space is short; the names
        deleted. The newest segment is kept (the footage that was just written)."""
        if not (self.keep_s or self.min_free.bytes or self.min_free.percent):
            return []
        entries = sorted(self.entries(), key=lambda d: d.get("start", 0))
        gone = []
        while len(entries) > 1:
            oldest = entries[0]
            too_old = self.keep_s and self.clock() - oldest.get("end", 0) > self.keep_s
            if not (too_old or self.min_free.short_of(self.folder)):
                break
            entries.pop(0)
            if self._ours(oldest):
                try:
                    os.unlink(self.folder / oldest["name"])
                except FileNotFoundError:
                    pass
                gone.append(oldest["name"])
            replace_text(self.path, "".join(json.dumps(d) + "\n" for d in entries))
        self.deleted += gone
        return gone
