"""The window's events (``--events DIR``): each live stream's results into an EventSink on the
process's one EventHub for the folder, built by ``event_sinks.event_sink_for`` as in a headless run, so the window
writes the same events.jsonl, index, clips and snapshots as ``lookout --headless --events`` does.

Driven by the session's engine thread: ``feed`` after each published result, ``drop`` for a stream
whose source ended or that was removed (finished on a thread of its own), ``close`` once the
streams have stopped. Each stream's sink runs behind an
OutputWorker of its own, as in the headless run, so the engine thread only queues.
"""
from __future__ import annotations

import dataclasses
import threading

from detector.engine.event_sinks import event_sink_for
from detector.engine.output import OutputWorker
from detector.engine.stats import Stats


class LiveEvents:
    def __init__(self, config, warn=print):
        """``config``: the window's RunConfig (its ``events`` folder and event options)."""
        self.config, self.warn = config, warn
        self.hubs: dict = {}  # what ``event_sink_for`` fills: one hub for the folder
        self._listeners: list = []
        # id(stream) -> (worker, EventSink, the capture it was made for)
        self._workers: dict[int, tuple[OutputWorker, object, object]] = {}
        self._finishers: list[threading.Thread] = []  # streams dropped: their events ending, clips closing
        self._dead: set[int] = set()  # streams whose sink could not be made: warned once, not retried
        self.closed = False

    def listen(self, fn) -> None:
        """``fn(what, record)`` for every event start and end (see ``EventHub.listen``); call before the
        session starts, so the hub has it from its first event."""
        self._listeners.append(fn)

    @property
    def folder(self) -> str:
        return self.config.events

    def feed(self, stream, result) -> None:
        """``stream``'s result into its event sink, made at its first result (its source's rate known)."""
        key = id(stream)
        entry = self._workers.get(key)
        if entry is not None and entry[2] is not stream.capture:  # another source: its own sink and clips
            self.drop(stream)
            entry = None
        if entry is None:
            if key in self._dead or self.closed:
                return
            entry = self._open(stream)
            if entry is None:
                return
        entry[0].put(result)

    def _open(self, stream):
        cap = stream.capture
        if cap is None or cap.source is None:
            return None
        config = dataclasses.replace(self.config, source=cap.spec, stream=stream.name or None)
        try:  # no lock: feed, drop and close all run on the engine thread
            fresh = self.config.events not in self.hubs
            sink = event_sink_for(config, self.hubs, cap.source.fps, cap.policy.live, self.warn)
            if fresh:  # before any stream can send an event through it
                for fn in self._listeners:
                    self.hubs[self.config.events].listen(fn)
        except Exception as e:  # the folder cannot be written: the video goes on, the user is told
            self._dead.add(id(stream))
            self.warn(f"events off for {stream.name or cap.spec}: {e}")
            return None
        worker = OutputWorker([sink], Stats())
        worker.start()
        self._workers[id(stream)] = entry = (worker, sink, cap)
        return entry

    def drop(self, stream) -> None:
        """``stream``'s source ended, or the stream is gone: its open events end and its clip is
        finished (as at the end of a headless run); a next source gets a sink of its own."""
        entry = self._workers.pop(id(stream), None)
        if entry is not None:  # on a thread of its own: the other streams' frames do not wait for a clip's end
            t = threading.Thread(target=self._finish, args=entry, name="lookout-events-close")
            t.start()
            self._finishers.append(t)

    def _finish(self, worker: OutputWorker, sink, _capture=None) -> None:
        worker.finish()
        try:
            sink.close()  # ends the stream's open events and finishes its clip (joins its recorder)
        except Exception as e:
            self.warn(f"events of {sink.stream}: {e}")

    def close(self) -> None:
        """Every sink finished, then the hub (its log, index and senders) closed: nothing left running."""
        self.closed = True
        for key in list(self._workers):
            self._finish(*self._workers.pop(key))
        for t in self._finishers:
            t.join(60.0)  # the recorder's own limit: a stream dropped earlier has ended its events
        for hub in self.hubs.values():
            hub.close()
        self.hubs.clear()
