"""One stream's parts from its ``RunConfig``, the scheduler's batch sizes, and the teardown order:
the one place both drivers build them. ``run.StreamSet`` (``run``, ``run_streams``, ``watch``) and
``live_session.LiveSession`` (the window) differ only in what they do with each result (sinks, a
generator, a painter) and in the window's controls (add, switch, pause, step, record).
"""
from __future__ import annotations

from detector.engine.capture import CaptureThread
from detector.engine.config import LOSSLESS_BATCH, RunConfig, live_batch
from detector.engine.motion import MotionGate
from detector.engine.models import Models
from detector.engine.regions import RegionPlanner, region_planner
from detector.engine.streams import Scheduler, Stream


def new_scheduler(streams: list[Stream], live_streams: int, asked: int = 0, expected: int | None = None) -> Scheduler:
    """The scheduler for ``streams`` (``live_streams`` of them, or of those ``expected``, live):
    ``asked`` (--batch) frames a detector call, else ``LOSSLESS_BATCH`` of a file's consecutive
    frames and one frame of each live stream, up to ``MAX_LIVE_BATCH``."""
    return Scheduler(streams, batch_lossless=asked or LOSSLESS_BATCH, batch_live=live_batch(live_streams, asked),
                     expected=expected)


def motion_gate(config: RunConfig, live: bool) -> MotionGate | None:
    """``--motion``'s gate for a newly opened source (nothing to compare its first frame with), or None."""
    return MotionGate(config.motion_keyframe, live=live) if config.motion else None


def stream_regions(config: RunConfig, models: Models, live: bool, image_source: bool) -> RegionPlanner | None:
    """``--regions``' planner for the stream, sized to the detector's input."""
    return region_planner(config.regions, min(models.detector.input_size), live, image_source)


def stop_captures(captures: list[CaptureThread | None], join_timeout: float = 2.0) -> None:
    """Stop every capture at once (a source still opening gives up at its own timeout), then join
    each (``join_timeout`` 0: the caller joins later): N streams stop in one ``join_timeout``, not N."""
    captures = [c for c in captures if c is not None]
    for c in captures:
        c.stop(join_timeout=0)
    for c in captures if join_timeout > 0 else ():
        c.stop(join_timeout)
