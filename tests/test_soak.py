"""A shorter soak than the benchmark's: >= 1,000 frames live, then threads and open files are back
to where they started (the 10,000-frame run with RSS is `python tools/bench.py --sections soak`)."""
from __future__ import annotations

import os
import threading

import pytest

from conftest import DEMO_CLIP
from detector.engine.models import Models
from detector.engine.run import RunConfig, run


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def _new_threads(before: set[int]) -> list[str]:
    return sorted(t.name for t in threading.enumerate() if t.ident not in before and t.is_alive())


def _settled(before: set[int], fds: int) -> tuple[list[str], int]:
    """The threads and descriptors over the starting ones, once they are gone or after 30 s: a thread
    joined with a timeout may take longer than that timeout to end on a busy machine, and a wait that
    ends as soon as it is gone tells a leak from a late exit."""
    for _ in range(300):
        left = _new_threads(before)
        if not left and _fds() <= fds:
            break
        threading.Event().wait(0.1)
    return _new_threads(before), _fds()


@pytest.mark.slow
def test_thousand_frame_live_loop_leaves_no_threads_or_descriptors(person_detector, tmp_path):
    before, fds = {t.ident for t in threading.enumerate()}, _fds()
    stop = threading.Event()
    seen = []
    original = person_detector.detect_batch

    def counting(images, timings=None):
        seen.append(1)
        if len(seen) % 250 == 0:
            assert _new_threads(before) == ["lookout-capture", "lookout-output"]  # nothing more
        if len(seen) >= 1000:
            stop.set()
        return original(images, timings)

    person_detector.detect_batch = counting
    try:
        report = run(RunConfig(source=str(DEMO_CLIP), live=True, loop=True, detections=str(tmp_path / "d.jsonl"),
                               progress=False), stop=stop, models=Models(person_detector))
    finally:
        del person_detector.detect_batch
    assert len(seen) >= 1000 and report.stopped_by == "signal"
    assert report.stats["frames"]["captured"] >= 1000
    assert _settled(before, fds) == ([], fds)
