"""The window's engine thread: every stream it shows through one ``streams.Scheduler``, one detector.

    live = LiveSession(models, config)               # config.source: one stream; add_source() for more
    live.start(); live.latest(); live.pause(True); live.step(); live.set_source(other)
    live.add_source(config_or_spec, name); live.remove_source(stream); live.set_focus(stream)
    live.load("name", load_fn, apply_fn)             # model swaps, ordered, off the caller's thread
    live.start_recording(path); live.stop_recording(); live.stop()

The same driver as the headless run (``run.StreamSet``): each stream built from its ``RunConfig``
by ``stream_parts`` (capture policy, motion gate, regions), one shared detector, the scheduler with
the same batch sizes, the captures stopped together; each stream its own Engine, tracker, counters
and stats (``live_stream.LiveStream``). The window differs only in what it does with the results
(the newest of each stream painted) and in its controls, which act on the focused stream. No Qt
here: the window pulls ``latest()`` on a timer, so its GUI thread never waits on inference or I/O,
and a slow GUI skips results instead of slowing the engine.
"""
from __future__ import annotations

import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from typing import Callable

from detector.engine.config import RunConfig
from detector.engine.live_stream import IDLE_STATE, LiveStream
from detector.engine.output import OutputWorker
from detector.engine.models import Models
from detector.engine.stats import Stats
from detector.engine.stream_parts import new_scheduler, stop_captures
from detector.engine.streams import Scheduler
from detector.io.sinks import VideoSink
from detector.io.sources import mask_url
from detector.runtime.base import Detector
from detector.runtime.classifier import Classifier


class LiveSession(threading.Thread):
    """Runs the streams, publishes each one's newest result, and acts on requests (add, remove or
    switch a source, pause/step, record, model swaps) between detector calls. Requests are plain
    method calls from any thread; none of them waits on I/O."""

    def __init__(self, models: Models, source: RunConfig | str | None = None, events=None):
        """``models``: the loaded models every stream shares (and the first stream's own view of
        them). ``source``: the window's options (a ``RunConfig``; its source, if any, the first
        stream), which the sources opened later take too (their capture policy: reconnect tries, RTSP
        transport, camera mode; --motion, --regions, --batch); a bare spec is a config with defaults.
        ``events``: a ``live_events.LiveEvents`` (``--events``) that every stream's results go to, as
        a headless run's go to its event sinks."""
        super().__init__(name="lookout-engine", daemon=True)
        self.models = models
        self.messages: queue.Queue[str] = queue.Queue()
        config = source if isinstance(source, RunConfig) else RunConfig(source=source)
        self.config = replace(config, source=None, stream="", weight=1.0)  # what a source opened later takes
        self._halt = threading.Event()
        self._wake = threading.Event()  # a request came: end the current wait for frames
        self._lock = threading.Lock()
        self._streams: list[LiveStream] = []
        self._removed: list[LiveStream] = []
        self._focus: LiveStream | None = None
        self._idle_stats = Stats()
        self._recorder: OutputWorker | None = None
        self._record_sink: VideoSink | None = None
        self._record_stream: LiveStream | None = None
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookout-loader")
        self._load_seq: dict[str, int] = {}
        self._finishers: list[threading.Thread] = []
        self.events = events
        if config.source:
            self.add_source(config, models=models)

    # ---- streams (any thread) ----------------------------------------------------------------------
    def streams(self) -> list[LiveStream]:
        with self._lock:
            return list(self._streams)

    @property
    def focus(self) -> LiveStream | None:
        """The stream the controls act on."""
        return self._focus

    def set_focus(self, stream: LiveStream | None) -> None:
        with self._lock:
            if stream is None or stream in self._streams:
                self._focus = stream

    def add_source(self, source: RunConfig | str, name: str = "", models: Models | None = None,
                   focus: bool = True) -> LiveStream:
        """A new stream (opened by the engine thread) on ``source``: a RunConfig (the command line's
        stream), or a spec opened from the window, which takes the window's options, the name
        ``name`` and the detector's score threshold now. ``models``: default the shared models with
        what the command line gives each stream of its own (``run.fresh_models``: tracker, counters,
        class filter, sub-labels, state watchers, from the options)."""
        config = source if isinstance(source, RunConfig) else replace(
            self.config, source=source, stream=name, conf=self.models.detector.score_threshold)
        if models is None:
            from detector.engine.run import fresh_models
            try:  # the state classifiers are the ones already loaded: nothing loads on the caller's (GUI) thread
                models = fresh_models(self.models, replace(config, states=()))
            except ValueError as e:  # --classify-labels no longer fit a detector swapped in the window
                self.messages.put(f"{mask_url(str(config.source))}: sub-labels off: {e}")
                models = fresh_models(self.models, replace(config, states=(), classify_labels=()))
            models.states = tuple(w.fresh() for w in self.models.states)
            if self.events is not None and models.analytics is None:  # events are confirmed tracks
                from detector.engine.config import make_analytics
                models.analytics = make_analytics(self.events.config)
        stream = LiveStream(config, models, lambda msg: None)
        stream.log = lambda msg: self._say(stream, msg)
        with self._lock:
            self._streams.append(stream)
            if focus or self._focus is None:
                self._focus = stream
        self._share_threshold()
        self._wake.set()
        return stream

    def remove_source(self, stream: LiveStream) -> None:
        """Stop ``stream`` (its capture is stopped and joined on the engine thread) and forget it."""
        with self._lock:
            if stream not in self._streams:
                return
            self._streams.remove(stream)
            self._removed.append(stream)
            if self._focus is stream:
                self._focus = self._streams[0] if self._streams else None
        self._share_threshold()
        if self._record_stream is stream:
            self.stop_recording()
        self._wake.set()

    def set_source(self, spec: str) -> None:
        """Switch the focused stream to another source (a new stream if there is none)."""
        stream = self._focus
        if stream is None:
            self.add_source(spec)
            return
        stream.switch(spec)
        self._wake.set()

    def _say(self, stream: LiveStream, msg: str) -> None:
        several = len(self._streams) > 1
        self.messages.put(f"{stream.name}: {msg}" if several and stream.name else msg)

    # ---- the focused stream (any thread) -----------------------------------------------------------
    @property
    def stats(self) -> Stats:
        f = self._focus
        return f.stats if f is not None else self._idle_stats

    @property
    def source_state(self) -> tuple[str, str, str]:
        f = self._focus
        return f.state if f is not None else IDLE_STATE

    @property
    def paused(self) -> bool:
        f = self._focus
        return f is not None and f.paused

    def latest(self):
        """The focused stream's newest result and its sequence number (1 for the first result)."""
        f = self._focus
        return f.latest() if f is not None else (None, 0)

    def pause(self, paused: bool) -> None:
        f = self._focus
        if f is not None:
            f.pause(paused)

    def step(self) -> None:
        """While paused: process exactly one more frame of the focused stream."""
        f = self._focus
        if f is not None:
            f.step()

    def set_conf(self, conf: float) -> None:
        """The focused stream's score threshold."""
        f = self._focus
        if f is not None:
            f.engine.min_score = conf
            self._share_threshold()

    def _share_threshold(self) -> None:
        """The shared detector keeps what the least demanding stream asks for; each stream's Engine
        drops the boxes under its own threshold (as ``run_streams`` does)."""
        scores = [s.engine.min_score for s in self.streams() if s.engine.min_score is not None]
        if scores:
            self.models.set_thresholds(conf=min(scores))

    def swap_detector(self, detector) -> None:
        """Every stream shares the detector: swap it in all of them (``load``'s apply for a model)."""
        for models in {id(m): m for m in [self.models, *(s.models for s in self.streams())]}.values():
            models.swap_detector(detector)

    # ---- requests (any thread) -------------------------------------------------------------------
    def load(self, what: str, load: Callable[[], Detector | Classifier], apply: Callable[[Detector | Classifier], None],
             kind: str = "detector") -> None:
        """Run ``load()`` on the loader thread, then ``apply`` its result (a swap between frames);
        failures and success become messages. Loads run one after another in the order asked, and a
        load that a newer request of the same ``kind`` has overtaken is skipped: the last choice wins."""
        with self._lock:
            self._load_seq[kind] = seq = self._load_seq.get(kind, 0) + 1

        def current() -> bool:
            with self._lock:
                return seq == self._load_seq[kind]

        def job():
            if not current():
                return  # a newer choice is queued: skip the work
            try:
                obj = load()
            except Exception as e:  # shown, never fatal
                self.messages.put(f"cannot load {what}: {e}")
                return
            if current():
                apply(obj)
                self.messages.put(f"now using {what}")

        self.messages.put(f"loading {what}…")
        self._loader.submit(job)

    def start_recording(self, path: str, blur=()) -> None:
        """Record the focused stream as the window shows it (annotated, at the measured rate) to
        ``path``, the boxes of the class names in ``blur`` blurred. ValueError if the file cannot be made."""
        stream = self._focus
        sink = VideoSink(path, fps=None)
        rec = OutputWorker([sink], Stats(), blur=blur)
        rec.start()
        with self._lock:
            self._record_sink, self._recorder, self._record_stream = sink, rec, stream
            shown = stream.latest()[0] if stream is not None else None
            if shown is not None:  # it starts with the frame on screen when it was asked for
                rec.put(shown)     # (in the lock: before any newer one; the queue is empty)

    def stop_recording(self) -> str | None:
        """Stop recording now; the encoder drains and the file is finished on a thread of its own (a
        message says when it is saved), so the caller never waits on the disk. The path, or None."""
        with self._lock:
            rec, sink = self._recorder, self._record_sink
            self._recorder = self._record_sink = self._record_stream = None
        if rec is None:
            return None
        finisher = threading.Thread(target=self._finish_recording, args=(rec, sink), name="lookout-record-close")
        finisher.start()
        self._finishers.append(finisher)
        return str(sink.path)

    def _finish_recording(self, rec: OutputWorker, sink: VideoSink) -> None:
        rec.finish()
        try:
            sink.close()
        except Exception as e:  # SinkError: the message names the file and the cause
            self.messages.put(f"recording failed: {e}")
            return
        self.messages.put(f"recording failed: {rec.error}" if rec.error is not None
                          else f"recording saved to {sink.path}")

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def stop(self, timeout: float = 2.0) -> None:
        """End the thread (the captures stop, a recording is finished) and the loader; joins both."""
        self._halt.set()
        self._wake.set()
        self._loader.shutdown(wait=False, cancel_futures=True)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
            if self.events is not None:  # the last events end and their clips reach the disk
                self.join(30.0)
        for t in list(self._finishers):
            t.join(timeout=30.0)  # a recording's last frames reach the disk before the process ends

    # ---- the engine thread ---------------------------------------------------------------------
    def run(self) -> None:
        scheduler, members = None, []
        try:
            while not self._halt.is_set():
                self._wake.clear()
                with self._lock:
                    removed, self._removed = self._removed, []
                for s in removed:
                    s.close()  # its capture stopped and joined (with a timeout) here, never on the GUI thread
                    if self.events is not None:
                        self.events.drop(s)
                streams = self.streams()
                for s in streams:
                    s.update()
                    if s.done and self.events is not None:  # its source ended or failed: so do its events
                        self.events.drop(s)
                ready = [s for s in streams if s.capture is not None and not s.done]
                if not ready:
                    self._wake.wait(0.05)
                    continue
                key = [(id(s), id(s.capture)) for s in ready]
                if key != members:  # a stream or a source came or went: a scheduler for those there are now
                    members = key
                    scheduler = new_scheduler(ready, sum(s.live for s in ready), self.config.batch)
                self._turn(scheduler)
        finally:
            streams = self.streams() + self._removed
            stop_captures([s.capture for s in streams])  # together, as a run's stop, then joined
            for s in streams:
                s.close()
            self.stop_recording()
            if self.events is not None:  # after the streams stop: their events end, then the hub closes
                self.events.close()

    def _turn(self, scheduler: Scheduler) -> None:
        """One detector call; each result published to its stream (and to the recording)."""
        try:
            for stream, result in scheduler.turn(self._wake):
                stream.publish(result)
                if self.events is not None:
                    self.events.feed(stream, result)
                with self._lock:
                    rec = self._recorder if self._record_stream is stream else None
                if rec is not None:
                    rec.put(result)
        except Exception as e:  # a model error must not kill the window
            self.messages.put(f"model error: {e}")
            time.sleep(0.2)
