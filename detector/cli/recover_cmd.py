"""``lookout recover DIR``: finish what a killed run left in DIR (and the folders under it).

A live source's recording and detections move to the names they were meant for (or the next free
name), cut back to what plays or parses; in an ``--events`` folder the clips join the index and the
open events are closed as interrupted. A file source's unfinished outputs are left as they are, with
the command that writes them again. One line a file; nothing is deleted. Exit 0 (also when nothing
was left), 2 for a DIR that is not a folder, 1 when a running Lookout still writes the events there.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(prog="lookout recover",
                                 description="Finish the recordings, detections and events a killed run left in DIR.")
    ap.add_argument("folder", metavar="DIR", help="a folder a run wrote into (--output's, --detections' or --events')")
    return ap


def recover(folder: Path, say=print) -> int:
    from detector.events.recover import close_interrupted, is_events_folder
    from detector.events.store import FolderBusy
    from detector.io.recover import finish
    from detector.util.partial import left_in
    done = [finish(left) for left in left_in(folder)]
    for f in done:
        say(f"lookout: {f.line}")
    said = len(done)
    code = 0
    for events in sorted({p.parent for p in folder.rglob("events.db")}):
        if not is_events_folder(events):
            continue
        try:
            lines = close_interrupted(events, [f for f in done if f.left.kind == "video"])
        except FolderBusy as e:
            say(f"lookout: {e}; nothing done to its events (stop that run first)")
            code, said = 1, said + 1
            continue
        for line in lines:
            say(f"lookout: {line}")
        said += len(lines)
    if not said:
        say(f"lookout: nothing to recover in {folder}")
    return code


def recover_main(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    folder = Path(args.folder)
    if not folder.is_dir():
        raise ValueError(f"{args.folder!r} is not a folder; give the folder a killed run wrote into")
    return recover(folder)


def left_notice(folders, events_folders=()) -> str | None:
    """One line for the start of a run: what killed runs left in the folders it writes into (an
    output's folder itself; an events folder with its clips below it)."""
    from detector.util.partial import left_in
    seen, where = 0, []
    looks = {Path(f): False for f in folders if f} | {Path(f): True for f in events_folders if f}
    for folder, below in looks.items():
        if not folder.is_dir():
            continue
        n = len(left_in(folder, recursive=below))
        if n:
            seen += n
            where.append(str(folder))
    if not seen:
        return None
    return (f"lookout: notice: {seen} unfinished file(s) of a run that was killed are in {', '.join(where)}; "
            f"lookout recover {where[0]} finishes them")


def print_left_notice(configs) -> None:
    import os
    folders, events = [], []
    for c in configs:
        for path in (c.output, c.detections):
            if path:
                folders.append(os.path.dirname(os.path.abspath(path)))
        if c.events:
            events.append(c.events)
    line = left_notice(folders, events)
    if line:
        print(line, file=sys.stderr)
