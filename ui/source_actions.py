"""Sources from the window: the start view (shown while nothing plays, with why the last source
failed), the cameras probed off the GUI thread, and the recent sources remembered in QSettings.
A mixin of MainWindow."""
from __future__ import annotations

import threading
from pathlib import Path

from detector.io.camera import list_cameras
from detector.io.sources import is_live_spec, mask_url

RECENT_MAX = 6


class SourceActions:
    def open_source(self, spec: str) -> None:
        """Play ``spec``: instead of the selected stream when it failed, or when the sources were asked
        for with one stream (the start view); else as one more stream, in a tile of its own."""
        focus = self.session.focus
        replace = focus is not None and (focus.state[0] in ("failed", "none") or (
            not self.several() and self.stage.currentWidget() is self.start_view))
        self.start_view.set_opening(spec)
        if replace:
            self.session.set_source(spec)
        else:
            self.add_stream(spec)

    def show_start(self, reason: str | None = None) -> None:
        """The start view: cameras (probed off this thread), files, the demo clip, recent sources."""
        if reason is not None:
            self.start_view.set_reason(reason)
        self.start_view.set_recent(self.recent_sources())
        self.start_view.set_opening("")
        self.stage.setCurrentWidget(self.start_view)
        if self._probe_thread is None or not self._probe_thread.is_alive():
            self.start_view.set_cameras(None)
            self._probe_thread = threading.Thread(target=lambda: self._probes.put(list_cameras()),
                                                  name="lookout-camera-probe", daemon=True)
            self._probe_thread.start()

    def recent_sources(self) -> list[str]:
        return [s for s in self.settings.value("sources/recent", [], type=list) if s][:RECENT_MAX]

    def _remember_source(self, spec: str) -> None:
        if mask_url(spec) != spec:
            return  # never store a password in the settings file
        if not is_live_spec(spec) and Path(spec).exists():
            spec = str(Path(spec).resolve())  # still found when started from another folder
        recent = [spec] + [s for s in self.recent_sources() if s != spec]
        self.settings.setValue("sources/recent", recent[:RECENT_MAX])

    def _follow_source_state(self) -> None:
        state = self.session.source_state
        if state == self._shown_state:
            return
        self._shown_state = state
        kind, spec, text = state
        if kind == "opening":
            self.display_rate.restart()
            self.start_view.set_opening(spec)
        elif kind == "playing":
            self.start_view.set_reason("")
            self._show_video()
            self._remember_source(spec)
        elif kind == "failed" and not self.several():  # of several, the tile says it (and the terminal)
            self.show_start(text)
        elif kind == "none":
            self.show_start("")
