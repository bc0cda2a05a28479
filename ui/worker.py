"""The window's engine thread: owns the capture thread, runs the models, publishes the latest result.

No Qt here on purpose: the GUI thread pulls ``latest()`` on a timer, so it never waits on inference,
and a slow GUI simply skips results instead of slowing the engine. Requests from the GUI (pause,
step, new source, new model, record) are plain method calls that set flags this thread acts on
between frames.
"""
from __future__ import annotations

import dataclasses
import queue
import threading
import time

from detector.capture import CapturePolicy, CaptureThread, EndOfStream
from detector.pipeline import Engine, Models
from detector.results import Result
from detector.run import OutputWorker, is_live_spec
from detector.sinks import VideoSink
from detector.stats import Stats


class EngineWorker(threading.Thread):
    def __init__(self, models: Models, source: str | None, policy: CapturePolicy | None = None):
        """``policy``: for this source, and (its reconnect tries and source options: RTSP transport,
        camera mode) for the sources the user opens later."""
        super().__init__(name="lookout-engine", daemon=True)
        self._base_policy = policy or CapturePolicy(live=True)
        self.models = models
        self.stats = Stats()
        self.engine = Engine(models, self.stats)
        self.messages: queue.Queue[str] = queue.Queue()
        self._halt = threading.Event()
        self._lock = threading.Lock()
        self._latest: Result | None = None
        self._seq = 0
        self._pending_source: tuple[str, CapturePolicy] | None = None
        self.capture: CaptureThread | None = None
        self.paused = False
        self._steps = 0
        self._recorder: OutputWorker | None = None
        self._record_sink: VideoSink | None = None
        self.source_desc = ""
        if source is not None:
            self.set_source(source, policy)

    # ---- requests from the GUI thread --------------------------------------------------------
    def set_source(self, spec: str, policy: CapturePolicy | None = None) -> None:
        """Switch to another source between frames (the old capture thread is stopped first)."""
        if policy is None:  # a viewer plays files in real time
            policy = dataclasses.replace(self._base_policy, live=True, play_realtime=not is_live_spec(spec))
        with self._lock:
            self._pending_source = (spec, policy)

    def latest(self) -> tuple[Result | None, int]:
        with self._lock:
            return self._latest, self._seq

    def pause(self, paused: bool) -> None:
        self.paused = paused
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

    def start_recording(self, path: str) -> None:
        sink = VideoSink(path, fps=None)  # the measured rate: what the window shows, in real time
        rec = OutputWorker([sink], Stats())
        rec.start()
        with self._lock:
            self._record_sink, self._recorder = sink, rec

    def stop_recording(self) -> str | None:
        with self._lock:
            rec, sink = self._recorder, self._record_sink
            self._recorder = self._record_sink = None
        if rec is None:
            return None
        rec.finish()
        sink.close()
        if rec.error is not None:
            self.messages.put(f"recording failed: {rec.error}")
        return str(sink.path)

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def stop(self, timeout: float = 2.0) -> None:
        self._halt.set()
        if self.is_alive() and threading.current_thread() is not self:
            self.join(timeout)

    # ---- the engine thread ---------------------------------------------------------------------
    def _open_pending(self) -> None:
        with self._lock:
            pending, self._pending_source = self._pending_source, None
        if pending is None:
            return
        self._close_capture()
        self.stats.info.pop("camera", None)  # the next source reports its own mode, if it is a camera
        spec, policy = pending
        cap = CaptureThread(spec, policy, self.stats, log=self.messages.put)
        if self.paused:
            cap.hold.set()
        cap.start()
        try:
            source = cap.wait_open(timeout=policy.open_timeout_s + 5)
        except ValueError as e:
            cap.stop()
            self.messages.put(str(e))
            return
        self.capture = cap
        self.source_desc = source.description
        analytics = self.models.analytics
        if analytics is not None:  # a new scene: tracks and counts start again
            analytics.reset()
        self.stats.info.update({"source": source.description, "policy": "live" if policy.live else "lossless"})
        self.messages.put(f"playing {source.description}")

    def _close_capture(self) -> None:
        if self.capture is not None:
            self.capture.stop()
            self.capture = None

    def _next_frame(self):
        cap = self.capture
        try:
            frame = cap.buffer.get(timeout=0.05)
        except EndOfStream:
            err = cap.error
            self.messages.put(f"source lost: {err}" if err else f"end of {self.source_desc}")
            self._close_capture()
            return None
        dropped = cap.buffer.new_drops()
        if dropped > 0:
            self.stats.count("dropped", dropped)
        return frame

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
            self._close_capture()
            self.stop_recording()
