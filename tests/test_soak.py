"""A shorter soak than the benchmark's: >= 1,000 frames live, then threads and open files are back
to where they started (the 10,000-frame run with RSS is `python tools/bench.py --sections soak`)."""
from __future__ import annotations

import os
import threading

import pytest

from conftest import DEMO_CLIP
from detector.engine.pipeline import Models
from detector.engine.run import RunConfig, run


def _fds() -> int:
    return len(os.listdir("/proc/self/fd"))


@pytest.mark.slow
def test_thousand_frame_live_loop_leaves_no_threads_or_descriptors(person_detector, tmp_path):
    threads, fds = threading.active_count(), _fds()
    stop = threading.Event()
    seen = []
    original = person_detector.detect_batch

    def counting(images, timings=None):
        seen.append(1)
        if len(seen) % 250 == 0:
            assert threading.active_count() == threads + 2  # capture + output threads, nothing more
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
    assert threading.active_count() == threads
    assert _fds() == fds
