"""Finishing the files a killed run left (``lookout recover``): each temporary file with an unheld note
(``util.partial``) is cut back to what plays or parses, then moved to the name it was meant for, or
the next free one (``rec-2.mp4``), never over a file.

A live source's video is a fragmented MP4: ``ftyp``, an empty ``moov``, then a ``moof`` + ``mdat``
pair a fragment. A kill can cut the last pair short; the file is cut back to the end of the last
whole pair, so every player reads it to the end. Lines files are cut back to their last newline.
A file source's outputs are not finished (a rerun writes them whole): the line says how to rerun.
Nothing is deleted: a file that holds nothing usable stays where it is, and the line says so.
"""
from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path

from detector.io.video_out import playable_frames
from detector.util.partial import Left, free_name


@dataclass(frozen=True)
class Finished:
    """What became of one left file: ``target`` (None when it was not moved) and the line to print."""

    left: Left
    target: Path | None
    line: str
    frames: int = 0          # video frames (or lines) kept
    duration_s: float = 0.0  # video only


def _boxes(f, size: int):
    """(type, start, end) of the top-level MP4 boxes, up to the first one that runs past the end."""
    pos = 0
    while pos + 8 <= size:
        f.seek(pos)
        head = f.read(16)
        length, kind = struct.unpack(">I4s", head[:8])
        if length == 1:
            if len(head) < 16:
                return
            length = struct.unpack(">Q", head[8:16])[0]
        elif length == 0:  # runs to the end of the file: complete only if nothing follows
            length = size - pos
        if length < 8 or pos + length > size:
            return
        yield kind.decode("latin-1"), pos, pos + length
        pos += length


def whole_fragments_end(path: Path) -> int:
    """Bytes of ``path`` up to the end of its last whole fragment (0: not a fragmented MP4, or none)."""
    size = path.stat().st_size
    end, seen_moov, last_moof = 0, False, False
    with open(path, "rb") as f:
        for kind, _start, stop in _boxes(f, size):
            if kind == "moov":
                seen_moov = True
            elif kind == "moof":
                last_moof = True
                continue
            elif kind == "mdat" and last_moof and seen_moov:
                end = stop
            last_moof = False
    return end


def video_duration_s(path: Path) -> float:
    try:
        import av
        with av.open(str(path)) as c:
            s = c.streams.video[0]
            last = None
            for p in c.demux(s):
                if p.pts is not None and p.size:
                    t = float((p.pts + (p.duration or 0)) * s.time_base)
                    last = t if last is None else max(last, t)
            return last or 0.0
    except Exception:  # PyAV/FFmpeg errors: unknown length
        return 0.0


def _move(part: Path, dest: Path) -> Path:
    """Link ``part`` under the first free name from ``dest`` on (a link never replaces a file, so
    two recoveries at once cannot take one name), then drop the temporary name."""
    while True:
        target = free_name(dest)
        try:
            os.link(part, target)
        except FileExistsError:
            continue
        except OSError:  # a file system without hard links: the rename can race, but never replaces
            if os.path.lexists(target):
                continue
            os.rename(part, target)
            return target
        os.unlink(part)
        return target


def finish(left: Left) -> Finished:
    """Finish one left file (see the module docstring); the note goes once the file is moved."""
    where = left.part.parent
    if not left.part.exists():
        left.note.unlink(missing_ok=True)
        return Finished(left, None, f"{where / left.dest.name}: its temporary file is gone; nothing to finish")
    if not left.live:
        return Finished(left, None, f"{left.part}: unfinished output of a video file, kept as it is (a file "
                                    f"source's outputs appear only when complete); rerun: {left.command}")
    if left.kind == "video":
        end = whole_fragments_end(left.part)
        if end == 0:
            return Finished(left, None, f"{left.part}: no whole video fragment in it, nothing playable; kept as "
                                        f"it is")
        if end < left.part.stat().st_size:
            os.truncate(left.part, end)
        frames = playable_frames(left.part)
        if frames == 0:
            return Finished(left, None, f"{left.part}: nothing playable in it; kept as it is")
        duration = video_duration_s(left.part)
        target = _move(left.part, left.dest)
        left.note.unlink(missing_ok=True)
        return Finished(left, target, f"{target}: recovered video, {frames} frames, {duration:.1f} s", frames,
                        duration)
    with open(left.part, "rb+") as f:
        data = f.read()
        keep = data.rfind(b"\n") + 1
        if keep < len(data):
            f.truncate(keep)
    lines = data[:keep].count(b"\n")
    target = _move(left.part, left.dest)
    left.note.unlink(missing_ok=True)
    return Finished(left, target, f"{target}: recovered {lines} lines", lines)
