"""The output thread: draws and writes each result to the sinks, so encoding overlaps inference."""
from __future__ import annotations

import dataclasses
import os
import threading
import time

from detector.types.results import Result
from detector.engine.capture import EndOfStream, FrameBuffer
from detector.engine.stats import Stats
from detector.engine.config import output_kind
from detector.io.sinks import DumpSink, FileSink, ImageSink, SinkError, VideoSink, detections_sink
from detector.io.sources import input_files
from detector.ops.annotators import BlurAnnotator
from detector.ops.draw import annotate


class OutputWorker(threading.Thread):
    """Draws and writes results on its own thread so encoding overlaps inference."""

    def __init__(self, sinks: list[FileSink], stats: Stats, maxsize: int = 8, blur=(), warn=None):
        """``blur``: class names blurred in every image written, annotated or raw (the detections
        files are unchanged). ``warn``: gets one line when a live output stops on a full disk (it
        stops alone: the other outputs go on)."""
        super().__init__(name="lookout-output", daemon=True)
        self.sinks, self.stats, self.blur, self.warn = sinks, stats, tuple(blur), warn
        self.stopped: list[str] = []  # the live outputs a full disk stopped, as the warning said
        self.q = FrameBuffer(maxsize, overwrite=False)  # bounded in results and in bytes of pixels
        self.error: Exception | None = None
        self.failed = threading.Event()
        self.needs_annotated = any(s.needs_annotated for s in sinks)

    _stopped_sinks: tuple = ()

    def _stop_output(self, sink, error: SinkError) -> None:
        """A live output whose disk is full: keep what it wrote, say so once, go on with the others."""
        kept = sink.salvage()
        line = f"no space left: {error}; that output stopped, {kept}; the other outputs go on"
        self._stopped_sinks = (*self._stopped_sinks, sink)
        self.stopped.append(line)
        self.stats.count("outputs_stopped")
        self.stats.info["outputs_stopped"] = list(self.stopped)
        if self.warn is not None:
            self.warn(f"warning: {line}")

    def put(self, result: Result) -> None:
        """Hand a result over, waiting for room; returns at once once writing has failed."""
        self.q.put(result, self.failed)

    def finish(self, timeout: float = 30.0) -> None:
        """Write what is queued, then end the thread."""
        self.q.close()
        self.join(timeout)
        skipped = sum(getattr(s, "skipped", 0) for s in self.sinks)  # a segmented video's frames a full disk lost
        if skipped:
            self.stats.info["frames_not_recorded"] = skipped

    def run(self) -> None:
        # Drawing and encoding yield to the model's threads: when they preempt one of ONNX Runtime's
        # workers mid-layer the other waits for it, so the model slows by more than they take.
        # Linux applies a niceness to the one thread; elsewhere this is a no-op (docs/speed.md).
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)
        except (OSError, AttributeError):
            pass
        while True:
            try:
                result = self.q.get(timeout=1.0)
            except EndOfStream:
                return
            if result is None or self.failed.is_set():
                continue
            try:
                t0 = time.perf_counter()
                if self.blur and self.needs_annotated:  # before any image sink sees the frame: raw dumps too
                    result = blurred(result, self.blur)
                annotated = (annotate(result.frame.image, result.detections, analytics=result.analytics,
                                      states=result.states) if self.needs_annotated else None)
                t1 = time.perf_counter()
                for sink in self.sinks:
                    if sink in self._stopped_sinks:
                        continue
                    try:
                        sink.write(result, annotated)
                    except SinkError as e:
                        if not (e.no_space and getattr(sink, "live", False)):
                            raise
                        self._stop_output(sink, e)
                t2 = time.perf_counter()
                if self.needs_annotated:
                    self.stats.add_latency("draw", (t1 - t0) * 1000)
                self.stats.add_latency("write", (t2 - t1) * 1000)
                self.stats.count("written")
            except Exception as e:  # reported by the runner; remaining results are discarded
                self.error = e
                self.failed.set()


def blurred(result: Result, classes) -> Result:
    """``result`` with its frame's boxes of ``classes`` blurred in a copy of the image."""
    image = result.frame.image.copy()
    BlurAnnotator(classes)(image, result.detections)
    return dataclasses.replace(result, frame=dataclasses.replace(result.frame, image=image))


class SharedSink(FileSink):
    """One detections file for several streams: writes from their output threads one at a time;
    closed once, by ``close_all`` when every stream is done (a stream's own ``close`` does nothing)."""

    def __init__(self, sink: FileSink):
        self.sink, self._lock = sink, threading.Lock()
        self.needs_annotated = sink.needs_annotated

    def write(self, result: Result, annotated) -> None:
        with self._lock:
            self.sink.write(result, annotated)

    def close_all(self) -> None:
        with self._lock:
            self.sink.close()


def build_sinks(config, source_fps: float, live: bool, warn=None, shared: dict | None = None,
                share_detections: bool = False) -> list[FileSink]:
    """The stream's sinks. ``share_detections``: its detections file is shared with other streams
    (kept in ``shared`` by path, its lines keyed by stream)."""
    sinks: list[FileSink] = []
    try:
        kind = output_kind(config)
        if kind in ("image", "images"):
            sinks.append(ImageSink(config.output, input_files(config.source) if kind == "images" else None))
        elif config.output and config.segment:
            from detector.io.segments import SegmentedVideoSink
            from detector.io.retention import parse_min_free
            sinks.append(SegmentedVideoSink(config.output, config.segment, None if live else (source_fps or 25.0),
                                            keep_s=config.keep, min_free=parse_min_free(config.min_free),
                                            codec=config.codec, crf=config.crf, bitrate=config.bitrate, warn=warn,
                                            preset=config.preset))
        elif config.output:
            sinks.append(VideoSink(config.output, None if live else (source_fps or 25.0), codec=config.codec,
                                   crf=config.crf, bitrate=config.bitrate, warn=warn, preset=config.preset))
        segment_of = (lambda seg=sinks[-1]: seg.current) if config.output and config.segment and sinks else None
        if config.detections and share_detections and shared is not None:
            if config.detections not in shared:
                shared[config.detections] = SharedSink(detections_sink(config.detections, config.frame_timings,
                                                                       with_stream=True, live=live))
            sinks.append(shared[config.detections])
        elif config.detections:
            sinks.append(detections_sink(config.detections, config.frame_timings, live=live, segment_of=segment_of))
        if config.dump_dir:
            sinks.append(DumpSink(config.dump_dir, config.dump_ext, config.dump_raw))
    except Exception:
        for s in sinks:
            s.close()
        raise
    return sinks
