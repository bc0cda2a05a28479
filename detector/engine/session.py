"""A run session: one source at a time through the models, and the controls that change it.

    live = LiveSession(models, spec, policy)         # the window: its own thread, newest result
    live.start(); live.latest(); live.pause(True); live.step(); live.set_source(other)
    live.load("name", load_fn, apply_fn)             # model swaps, ordered, off the caller's thread
    live.start_recording(path); live.stop_recording(); live.stop()

Both open sources, count drops and run the models here, the same way; the CLI and the window differ
only in what they do with the results (sinks, or the newest one painted) and in their controls.
No Qt here: the window pulls ``latest()`` on a timer, so its GUI thread never waits on inference
or I/O, and a slow GUI skips results instead of slowing the engine.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from detector.engine.capture import CapturePolicy, CaptureThread, EndOfStream
from detector.engine.output import OutputWorker
from detector.engine.pipeline import Engine, Models, take_frame
from detector.types.results import Result
from detector.engine.stats import Stats
from detector.io.sinks import VideoSink
from detector.io.sources import Source, is_live_spec
from detector.runtime.base import Detector
from detector.runtime.classifier import Classifier


class Session:
    """Models + stats + the capture thread of the current source (one at a time)."""

    def __init__(self, models: Models, stats: Stats | None = None, log: Callable[[str], None] | None = None):
        """``log``: where the capture thread's lines go (reconnects, the camera mode granted)."""
        self.models = models
        self.stats = stats or Stats()
        self.engine = Engine(models, self.stats)
        self.log = log or (lambda msg: None)
        self.capture: CaptureThread | None = None
        self.source: Source | None = None

    def open(self, spec: str, policy: CapturePolicy, timeout: float = 60.0, hold: bool = False) -> Source:
        """Stop the current source, start a capture thread on ``spec`` and wait until it is open;
        ``hold``: start it held (a paused window). SourceError (a ValueError naming the problem) when
        it cannot be; nothing is left running."""
        self.close_source()
        self.stats.info.pop("camera", None)  # the next source reports its own mode, if it is a camera
        self.stats.restart_rates()
        cap = CaptureThread(spec, policy, self.stats, log=self.log)
        if hold:
            cap.hold.set()
        cap.start()
        try:
            source = cap.wait_open(timeout=timeout)
        except BaseException:
            cap.stop()
            raise
        self.capture, self.source = cap, source
        self.stats.info.update({"source": source.description, "policy": "live" if policy.live else "lossless"})
        return source

    def close_source(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture = None


class LiveSession(Session, threading.Thread):
    """The window's engine thread: runs the current source, publishes the newest result, and acts on
    requests (new source, pause/step, record, model swaps) between frames. Requests are plain method
    calls from any thread; none of them waits on I/O."""

    def __init__(self, models: Models, source: str | None, policy: CapturePolicy | None = None):
        """``policy``: for ``source``, and (its reconnect tries and source options: RTSP transport,
        camera mode) for the sources opened later."""
        threading.Thread.__init__(self, name="lookout-engine", daemon=True)
        self.messages: queue.Queue[str] = queue.Queue()
        Session.__init__(self, models, log=self.messages.put)
        self._base_policy = policy or CapturePolicy(live=True)
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._latest: Result | None = None
        self._seq = 0
        self._pending_source: tuple[str, CapturePolicy] | None = None
        self.paused = False
        self._steps = 0
        self._recorder: OutputWorker | None = None
        self._record_sink: VideoSink | None = None
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookout-loader")
        self._load_seq: dict[str, int] = {}
        self._finishers: list[threading.Thread] = []
        self.source_desc = ""
        # (state, spec, text) for a window to show: "opening", "playing" (text: the description),
        # "failed" (text: why; it never opened, or it was lost for good) or "none" (nothing asked yet)
        self.source_state: tuple[str, str, str] = ("none", "", "")
        if source is not None:
            self.set_source(source, policy)

    # ---- requests (any thread) -------------------------------------------------------------------
    def set_source(self, spec: str, policy: CapturePolicy | None = None) -> None:
        """Switch to another source between frames (the old capture thread is stopped first)."""
        if policy is None:  # a viewer plays files in real time
            policy = dataclasses.replace(self._base_policy, live=True, play_realtime=not is_live_spec(spec))
        with self._lock:
            self._pending_source = (spec, policy)
            self.source_state = ("opening", spec, "")

    def latest(self) -> tuple[Result | None, int]:
        """The newest result and its sequence number (1 for the first result, +1 for each next)."""
        with self._lock:
            return self._latest, self._seq

    def pause(self, paused: bool) -> None:
        self.paused = paused
        self.stats.set_paused(paused)
        cap = self.capture
        if cap is not None:
            (cap.hold.set if paused else cap.hold.clear)()

    def step(self) -> None:
        """While paused: process exactly one more frame."""
        with self._lock:
            self._steps += 1
        cap = self.capture
        if cap is not None:
            cap.step()

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
        """Record what the window shows (annotated, at the measured rate) to ``path``, the boxes of
        the class names in ``blur`` blurred. ValueError if the file cannot be made."""
        sink = VideoSink(path, fps=None)
        rec = OutputWorker([sink], Stats(), blur=blur)
        rec.start()
        with self._lock:
            self._record_sink, self._recorder = sink, rec
            if self._latest is not None:  # it starts with the frame on screen when it was asked for
                rec.put(self._latest)      # (in the lock: before any newer one; the queue is empty)

    def stop_recording(self) -> str | None:
        """Stop recording now; the encoder drains and the file is finished on a thread of its own (a
        message says when it is saved), so the caller never waits on the disk. The path, or None."""
        with self._lock:
            rec, sink = self._recorder, self._record_sink
            self._recorder = self._record_sink = None
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
        """End the thread (the capture stops, a recording is finished) and the loader; joins both."""
        self._halt.set()
        self._loader.shutdown(wait=False, cancel_futures=True)
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)
        for t in list(self._finishers):
            t.join(timeout=30.0)  # a recording's last frames reach the disk before the process ends

    # ---- the engine thread ---------------------------------------------------------------------
    def _open_pending(self) -> None:
        with self._lock:
            pending, self._pending_source = self._pending_source, None
        if pending is None:
            return
        spec, policy = pending
        try:
            source = self.open(spec, policy, timeout=policy.open_timeout_s + 5, hold=self.paused)
        except ValueError as e:
            self.messages.put(str(e))
            self._set_state("failed", spec, str(e))
            return
        self.source_desc = source.description
        self._set_state("playing", spec, source.description)
        if self.models.analytics is not None:  # a new scene: tracks and counts start again
            self.models.analytics.reset()
        self.messages.put(f"playing {source.description}")

    def _set_state(self, state: str, spec: str, text: str) -> None:
        with self._lock:
            if self._pending_source is None:  # a newer request's "opening" stands
                self.source_state = (state, spec, text)

    def _next_frame(self):
        cap = self.capture
        try:
            return take_frame(cap, self.stats, timeout=0.05)
        except EndOfStream:
            err = cap.error
            self.messages.put(f"source lost: {err}" if err else f"end of {self.source_desc}")
            if err:
                self._set_state("failed", cap.spec, f"source lost: {err}")
            self.close_source()
            return None

    def run(self) -> None:
        try:
            while not self._halt.is_set():
                self._open_pending()
                if self.capture is None:
                    self._halt.wait(0.05)
                    continue
                frame = self._next_frame()
                if frame is None:
                    continue
                with self._lock:
                    if self.paused and self._steps == 0 and self.capture.source.live:
                        continue  # a paused camera: keep draining it, show nothing new
                    if self.paused and self._steps:
                        self._steps -= 1
                try:
                    result = self.engine.infer(frame)
                except Exception as e:  # a model error must not kill the window
                    self.messages.put(f"model error: {e}")
                    time.sleep(0.2)
                    continue
                with self._lock:
                    self._latest, self._seq = result, self._seq + 1
                    rec = self._recorder
                if rec is not None:
                    rec.put(result)
        finally:
            self.close_source()
            self.stop_recording()
