"""Files written whole or not at all, and file hashes.

A reader (another process, a crash, a full disk) never sees a half-written file under a final name:
everything is written under a temporary name in the same folder, flushed to disk, then renamed
into place (an atomic replace on POSIX and Windows).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from pathlib import Path


def part_path(dest: str | Path) -> Path:
    """A fresh temporary name to write ``dest`` under: ``.STEM.part-XXXXXXXX.EXT`` beside it (hidden,
    same folder, so the rename is atomic; the extension stays last because encoders pick the container
    from it). Random, so it is never a file of the user's or another run's, and cleaning it up
    deletes only what this write made."""
    dest = Path(dest)
    return dest.with_name(f".{dest.stem}.part-{secrets.token_hex(4)}{dest.suffix}")


def commit(tmp: str | Path, dest: str | Path) -> None:
    """Flush ``tmp`` to disk and rename it to ``dest``, replacing any file there."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.replace(tmp, dest)


def replace_bytes(dest: str | Path, data: bytes) -> None:
    """Write ``data`` to ``dest`` whole (see the module docstring). OSError if it cannot; no temporary
    file is left behind either way."""
    tmp = part_path(dest)
    try:
        with open(tmp, "wb") as f:
            f.write(data)
        commit(tmp, dest)
    finally:
        if tmp.exists():
            tmp.unlink()


def keep_cache_file(dest: str | Path, data: bytes) -> bool:
    """Write a derived file (an exported graph, its metadata) whole, making its folder. A read-only
    or full cache is not an error, only a cost later (the export is redone): False then."""
    try:
        Path(dest).parent.mkdir(parents=True, exist_ok=True)
        replace_bytes(dest, data)
        return True
    except OSError:
        return False


def replace_text(dest: str | Path, text: str) -> None:
    replace_bytes(dest, text.encode())


def sha256_file(path: str | Path, prefix: bytes = b"") -> str:
    """Hex sha256 of ``prefix`` followed by the file's bytes, read in 1 MiB blocks."""
    h = hashlib.sha256(prefix)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
