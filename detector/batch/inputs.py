"""What ``lookout batch INPUT...`` processes: each argument expanded into named inputs.

An argument may be a video file, an image, a folder (each video in it and its subfolders is one
input; a folder holding images is one image-sequence input), a glob, a stream URL, or a list file
(``.txt`` / ``.list``: one path or URL a line, ``#`` comments; relative paths are relative to the
list file). Names are the file (or folder) stem, made unique in order with ``-2``, ``-3``...; they
name the outputs (``DIR/<name>.jsonl``).
"""
from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass
from pathlib import Path

from detector.io.sources import IMAGE_EXTS, STREAM_SCHEMES

VIDEO_EXTS = {".mp4", ".m4v", ".mov", ".mkv", ".avi", ".webm", ".ts", ".mts", ".m2ts", ".mpg", ".mpeg",
              ".wmv", ".flv", ".3gp", ".ogv"}
LIST_EXTS = {".txt", ".list"}


@dataclass(frozen=True)
class BatchInput:
    """One thing to process. ``problem``: why it cannot be (missing, matched nothing), found before
    any worker starts; it is reported in the summary like any other failure."""

    name: str
    source: str
    problem: str | None = None

    @property
    def is_stream(self) -> bool:
        return self.source.lower().startswith(STREAM_SCHEMES)

    def fingerprint(self) -> list | None:
        """What identifies this input's content for skipping on a rerun: size and mtime of the file,
        or of each image in a folder; None for a stream (never skipped)."""
        if self.is_stream or self.problem:
            return None
        p = Path(self.source)
        files = sorted(f for f in p.iterdir() if f.is_file()) if p.is_dir() else [p]
        try:
            stats = [(f.name, f.stat()) for f in files]
        except OSError:
            return None
        return [[name, st.st_size, st.st_mtime_ns] for name, st in stats]


def expand(args: list[str]) -> list[BatchInput]:
    """The inputs named by the command line's arguments, in order, duplicates (same path) once."""
    found: list[tuple[str, str | None]] = []
    for arg in args:
        found += _expand_one(arg, Path.cwd())
    seen: set[str] = set()
    unique = []
    for source, problem in found:
        key = source if problem or "://" in source else os.path.realpath(source)
        if key not in seen:
            seen.add(key)
            unique.append((source, problem))
    return _name(unique)


def _expand_one(arg: str, base: Path) -> list[tuple[str, str | None]]:
    if arg.lower().startswith(STREAM_SCHEMES):
        return [(arg, None)]
    # absolute: a Ray worker may run in another folder (or on another machine sharing the storage)
    path = Path(os.path.abspath(arg if os.path.isabs(arg) else base / arg))
    shown = str(path)
    if path.is_dir():
        return _scan_folder(path, shown)
    if path.is_file():
        if path.suffix.lower() in LIST_EXTS:
            return _read_list(path)
        return [(shown, None)]
    if glob.has_magic(arg):
        matches = sorted(glob.glob(shown))
        if not matches:
            return [(shown, "matched no files")]
        images = [m for m in matches if Path(m).suffix.lower() in IMAGE_EXTS]
        out = [(m, None) for m in matches if m not in images and os.path.isfile(m)]
        return out + ([(shown, None)] if images else [])  # the images of a glob are one sequence
    return [(shown, "no such file or folder")]


def _scan_folder(folder: Path, shown: str) -> list[tuple[str, str | None]]:
    out = []
    for root, dirs, files in os.walk(folder):
        dirs.sort()
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        names = sorted(f for f in files if not f.startswith("."))
        rel = os.path.relpath(root, folder)
        where = shown if rel == "." else os.path.join(shown, rel)
        if any(Path(f).suffix.lower() in IMAGE_EXTS for f in names):
            out.append((where, None))
        out += [(os.path.join(where, f), None) for f in names if Path(f).suffix.lower() in VIDEO_EXTS]
    if not out:
        return [(shown, "holds no videos or images")]
    return out


def _read_list(path: Path) -> list[tuple[str, str | None]]:
    out = []
    for line in path.read_text(errors="replace").splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            out += _expand_one(line, path.parent)
    return out or [(str(path), "list file names no inputs")]


def _name(found: list[tuple[str, str | None]]) -> list[BatchInput]:
    used: dict[str, int] = {}
    out = []
    for source, problem in found:
        stem = _stem(source)
        n = used.get(stem, 0) + 1
        used[stem] = n
        out.append(BatchInput(stem if n == 1 else f"{stem}-{n}", source, problem))
    return out


def _stem(source: str) -> str:
    if "://" in source:
        rest = source.split("://", 1)[1].split("@")[-1]  # never the credentials
        raw = rest.replace("/", "_").replace(":", "_")
    else:
        p = Path(source.rstrip("/\\"))
        if glob.has_magic(source):
            raw = p.parent.name or "images"
        else:
            raw = p.name if p.is_dir() else p.stem
    return re.sub(r"[^A-Za-z0-9._-]+", "_", raw).strip("._") or "input"
