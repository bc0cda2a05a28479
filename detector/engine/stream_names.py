"""Stream names: ``NAME=SOURCE`` spellings, names made from sources, and the ``{stream}`` placeholder
in output paths (the command line, the config file and ``watch`` name streams the same way).

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
