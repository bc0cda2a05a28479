"""Several streams from the command line: ``--source NAME=SOURCE`` (repeatable), stream names, and
the ``{stream}`` placeholder in output paths.

A name is letters, digits, ``_`` or ``-``. A ``--source`` that exists as written is always a path (a
file called ``a=b.mp4`` still works); otherwise ``NAME=SOURCE`` names it. Unnamed streams are named
from the source: the file's stem, ``cam0`` for camera 0, host and path of a URL (never its
credentials), made unique in order with ``-2``, ``-3``.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

NAME = re.compile(r"[A-Za-z0-9_-]+")
PLACEHOLDER = "{stream}"
# outputs one stream alone can own: with several streams their paths must name the stream
PER_STREAM = ("output", "dump_dir")


def split_source(text: str) -> tuple[str | None, str]:
    """``NAME=SOURCE`` -> (NAME, SOURCE); a path that exists, or no valid name before '=', -> (None, text)."""
    if os.path.exists(text):
        return None, text
    name, sep, rest = text.partition("=")
    if sep and rest and NAME.fullmatch(name):
        return name, rest
    return None, text


def name_from(source: str) -> str:
    s = source.strip()
    if s.isdigit():
        return f"cam{s}"
    if "://" in s:
        parts = urlsplit(s)
        raw = (parts.hostname or "stream") + parts.path
    else:
        p = Path(s.rstrip("/\\"))
        raw = p.parent.name if any(c in s for c in "*?[") else (p.name if p.is_dir() else p.stem)
    return re.sub(r"[^A-Za-z0-9_-]+", "_", raw).strip("_-") or "stream"


def unique_names(named: list[tuple[str | None, str]]) -> list[str]:
    """Given names stay (a duplicate is refused); the others are made from their sources and unique."""
    given = [n for n, _ in named if n]
    dup = next((n for n in given if given.count(n) > 1), None)
    if dup:
        raise ValueError(f"stream name {dup!r} is used twice; give each stream its own name")
    used, out = set(given), []
    for name, source in named:
        if name:
            out.append(name)
            continue
        base = name_from(source)
        candidate, k = base, 1
        while candidate in used:
            k += 1
            candidate = f"{base}-{k}"
        used.add(candidate)
        out.append(candidate)
    return out


def fill(path: str | None, name: str) -> str | None:
    return path.replace(PLACEHOLDER, name) if path else path


def check_templates(values: dict, several: bool, where: str = "") -> None:
    """With several streams, a video or dump folder given for all of them must name the stream."""
    if not several:
        return
    for key in PER_STREAM:
        path = values.get(key)
        if path and PLACEHOLDER not in path:
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{where}{flag} {path!r} is given for several streams: put {PLACEHOLDER} in it "
                             f"(e.g. out/{PLACEHOLDER}.mp4) so each stream writes its own")
