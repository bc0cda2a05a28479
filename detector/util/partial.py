"""Notes beside the files a run is still writing, so that ``lookout recover`` can finish what a killed
run left, and only that.

Every output written under a temporary name (``files.part_path``) gets a note beside it,
``.STEM.part-XXXXXXXX.EXT.lookout``: JSON saying the name it is meant for, what it holds ("video" or
"lines") and whether it comes from a live source (a camera's frames, gone for good if not kept) or a
file (which a rerun writes again). The writing process holds an exclusive ``flock`` on the note for
as long as it writes, which the kernel drops when the process dies however it dies: a note nobody
holds is what a killed run left; a held one belongs to a run still going, and is left alone.
Stdlib only.
"""
from __future__ import annotations

import json
import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # Windows: no flock; a note there is taken for a killed run's only when its pid is gone
    fcntl = None

NOTE_SUFFIX = ".lookout"
_PART = re.compile(r"\.(?P<stem>.+)\.part-[0-9a-f]{8}(?P<suffix>\.[^.]*)?")
_SECRET = re.compile(r"(://[^/@\s:]*:)[^@/\s]*@")


def note_path(tmp: str | Path) -> Path:
    tmp = Path(tmp)
    return tmp.with_name(tmp.name + NOTE_SUFFIX)


class Note:
    """The note for one temporary file, written and locked on creation; ``done()`` removes it."""

    def __init__(self, tmp: str | Path, dest: str | Path, kind: str, live: bool):
        self.path = note_path(tmp)
        data = {"app": "lookout", "dest": Path(dest).name, "part": Path(tmp).name, "kind": kind, "live": bool(live),
                "pid": os.getpid(), "command": masked_command()}
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            if fcntl is not None:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.write(self._fd, (json.dumps(data) + "\n").encode())
        except OSError:
            os.close(self._fd)
            self.path.unlink(missing_ok=True)
            raise

    def done(self) -> None:
        """The file it described is finished (or gone): the note goes, and its lock with it."""
        if self._fd is None:
            return
        try:
            self.path.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


def masked_command() -> str:
    """This process's command line, passwords in URLs masked: what a rerun would type."""
    return " ".join(["lookout", *(_SECRET.sub(r"\1***@", a) for a in sys.argv[1:])])


@dataclass(frozen=True)
class Left:
    """A note a killed run left: the temporary file, the name it was meant for, what it holds."""

    note: Path
    part: Path
    dest: Path
    kind: str
    live: bool
    command: str


def _held(path: Path, pid: int) -> bool:
    """True when a running process still holds the note (its writer)."""
    if fcntl is None:
        try:
            os.kill(pid, 0)
            return True
        except (OSError, ValueError):
            return False
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    except OSError:
        return True
    finally:
        os.close(fd)


def left_in(folder: str | Path, recursive: bool = True) -> list[Left]:
    """The notes under ``folder`` that no running process holds, oldest first. A note that is not
    Lookout's (unreadable, another shape) is ignored."""
    root = Path(folder)
    found = root.rglob("*" + NOTE_SUFFIX) if recursive else root.glob("*" + NOTE_SUFFIX)
    out = []
    for note in found:
        if not _PART.fullmatch(note.name[: -len(NOTE_SUFFIX)]):
            continue
        try:
            data = json.loads(note.read_text(encoding="utf-8"))
            if data.get("app") != "lookout" or data.get("part") != note.name[: -len(NOTE_SUFFIX)]:
                continue
            if _held(note, int(data.get("pid", 0))):
                continue
            left = Left(note, note.with_name(data["part"]), note.with_name(Path(data["dest"]).name),
                        str(data.get("kind")), bool(data.get("live")), str(data.get("command", "lookout ...")))
        except (OSError, ValueError, KeyError, TypeError):
            continue
        out.append(left)
    return sorted(out, key=lambda l: l.note.stat().st_mtime if l.note.exists() else 0)


def free_name(dest: Path) -> Path:
    """``dest``, or ``STEM-2.EXT``, ``STEM-3.EXT`` ...: the first name nothing holds."""
    n, p = 1, dest
    while os.path.lexists(p):
        n += 1
        p = dest.with_name(f"{dest.stem}-{n}{dest.suffix}")
    return p
