"""``EventSink``: a stream's events as one more sink of the output thread. It runs the rules on each
result and hands frames and records to the stream's recorder thread; it never encodes or sends."""
from __future__ import annotations

import collections
import math

from detector.events.recorder import StreamRecorder
from detector.events.rules import EventRules, RuleSettings
from detector.io.sinks import FileSink
from detector.types.results import Result


class EventSink(FileSink):
    needs_annotated = False  # clips are drawn on the recorder thread when --clip-annotated asks

    def __init__(self, hub, stream: str, settings: RuleSettings, fps: float | None, live: bool,
                 pre_s: float = 5.0, post_s: float = 5.0, annotated: bool = False, max_clip_s: float = 300.0):
        self.hub, self.stream = hub, stream
        self.rules = EventRules(stream, settings)
        rate = fps if fps and fps > 0 else 30.0
        # the pre-roll, plus the time and frames a track needs before it is confirmed, plus some slack
        ring_frames = math.ceil((pre_s + 1.0 + settings.min_s) * rate) + settings.min_frames + 8
        self.recorder = StreamRecorder(stream, hub, fps, live, pre_s, post_s, annotated, ring_frames, max_clip_s)
        self.recorder.start()
        self._closed = False

    def write(self, result: Result, annotated) -> None:
        changes = self.rules.update(result)
        in_view = collections.Counter(tr.label for tid, tr in self.rules.tracks.items()
                                      if tr.event is not None and tr.last_pts == result.frame.pts_ms)
        self.recorder.feed(result, changes, dict(in_view))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.recorder.finish(self.rules.finish())

    def stats(self) -> dict:
        return {"stream": self.stream, "clips": self.recorder.clips, "snapshots": self.recorder.snapshots,
                "tracks_not_events": dict(self.rules.counts_removed),
                **({"error": self.recorder.error} if self.recorder.error else {})}
