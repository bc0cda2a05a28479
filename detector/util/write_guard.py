"""What a run may write: never over one of its inputs, never over an existing file unless asked.

Every path a run writes is compared with every path it reads after resolving links, ``..`` and
relative parts, and by device and inode where both exist (a hard link or a bind mount names the same
file under another path). A clash raises ``WriteRefused`` (a ValueError) with one line naming the
option, the file and the way out, before anything is loaded or written. Stdlib only: the command
line calls it before the models load.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable


class WriteRefused(ValueError):
    """An output would destroy an input or a file the user did not ask to replace."""


@dataclass(frozen=True)
class Named:
    """A path and the option that named it (``--output``), for the message."""

    flag: str
    path: str

    def shown(self) -> str:
        return f"{self.flag} {self.path}" if self.flag else self.path


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True when ``a`` and ``b`` are one file: the same resolved path, or the same device and inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet): only the resolved paths can tell
        return False


def _input_of(output: Named, inputs: list[Named]) -> Named | None:
    return next((i for i in inputs if same_file(output.path, i.path)), None)


def check_writes(outputs: Iterable[Named], inputs: Iterable[Named], overwrite: bool = False) -> None:
    """Refuse, in this order: an output that is an input (whatever ``overwrite`` says), two outputs
    naming one file, an output that is an existing folder, an existing output without ``overwrite``."""
    outputs, inputs = [o for o in outputs if o.path], [i for i in inputs if i.path]
    for o in outputs:
        clash = _input_of(o, inputs)
        if clash is not None:
            what = "is" if os.path.realpath(o.path) == os.path.realpath(clash.path) else "is the same file as"
            raise WriteRefused(f"{o.shown()} {what} the input {clash.shown()}: Lookout never writes over an "
                               f"input; pick another name")
    for k, o in enumerate(outputs):
        twin = next((p for p in outputs[:k] if same_file(o.path, p.path)), None)
        if twin is not None:
            raise WriteRefused(f"{twin.shown()} and {o.shown()} name the same file; give each output its own name")
    for o in outputs:
        if os.path.isdir(o.path):
            raise WriteRefused(f"{o.shown()} is a folder; give a file name")
        folder = os.path.dirname(os.path.abspath(o.path))
        if not os.path.isdir(folder):
            raise WriteRefused(f"cannot write {o.shown()}: folder {folder!r} does not exist; create it or pick another")
        if os.path.lexists(o.path) and not overwrite:
            raise WriteRefused(f"{o.shown()} already exists; pass --overwrite (-y) to replace it, or pick "
                               f"another name")


def dump_name_pattern(ext: str) -> re.Pattern:
    """The names a frame dump writes (``00000012.jpg``, ``00000012_raw.jpg``)."""
    return re.compile(rf"\d{{8}}(_raw)?\.{re.escape(ext.lower().lstrip('.'))}")


def check_dump_folder(folder: Named, ext: str, inputs: Iterable[Named], overwrite: bool = False) -> None:
    """A frame-dump folder: never one that holds an input under a name the dump writes; one that
    already holds such files only with ``overwrite``. A missing folder is fine (it is created)."""
    root = Path(folder.path)
    if root.exists() and not root.is_dir():
        raise WriteRefused(f"{folder.shown()} is a file, not a folder; pick a folder for the frames")
    pattern = dump_name_pattern(ext)
    for i in inputs:
        p = Path(os.path.realpath(i.path))
        if p.parent == Path(os.path.realpath(root)) and pattern.fullmatch(p.name):
            raise WriteRefused(f"{folder.shown()} holds the input {i.shown()} under a name the frame dump "
                               f"writes: Lookout never writes over an input; pick another folder")
    if overwrite or not root.is_dir():
        return
    taken = sorted(n for n in os.listdir(root) if pattern.fullmatch(n))
    if taken:
        raise WriteRefused(f"{folder.shown()} already holds {len(taken)} frame file(s) ({taken[0]}, ...); pass "
                           f"--overwrite (-y) to replace them, or pick an empty folder")
