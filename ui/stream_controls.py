"""The window's streams: the sources (the start view, shown while nothing plays, with why the last
source failed; files, webcams probed off the GUI thread, URLs; the recent ones remembered in
QSettings), and with several streams the grid of tiles, the selected stream (the one the side
panel's controls act on), the focus view (a double-clicked tile in the big view), closing a tile.
One stream is the N = 1 case: no grid, the big view as it always was. Owns the grid and its state;
all on the GUI thread, which only reads what the engine published and sends requests."""
from __future__ import annotations

import queue
import sys
import threading
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QFileDialog, QInputDialog

from detector.engine.stream_names import unique_names
from detector.io.camera import describe_cameras, list_cameras
from detector.io.sources import is_live_spec, mask_url

from .stream_grid import StreamGrid
from .tile_view import TileView

RECENT_MAX = 6


class StreamControls:
    def __init__(self, parent, session, settings, stage, view, start_view, blur, say, on_focus, on_opening):
        """``stage``: the stacked video area (``view``: the big view, ``start_view``, and the grid this
        adds); ``blur``: --blur for the tiles; ``say(text, ms)``: the status bar; ``on_focus(stream)``:
        another stream was selected, ``on_opening()``: the selected stream opens a source (the window
        shows its state, restarts its display rate)."""
        self.parent, self.session, self.settings = parent, session, settings
        self.stage, self.view, self.start_view, self.blur = stage, view, start_view, blur
        self.say, self.on_focus, self.on_opening = say, on_focus, on_opening
        self.grid = StreamGrid()
        self.grid.make_tile = self._make_tile
        self.focused_view = False  # several streams: True while one is shown big
        self._shown_focus = None
        self._shown_state: tuple[str, str, str] | None = None
        self._reported: dict[int, tuple] = {}
        self._probes: queue.Queue = queue.Queue()
        self._probe_thread: threading.Thread | None = None
        stage.addWidget(self.grid)
        view.on_double_click = self.back_to_grid
        start_view.chosen.connect(self.open_source)
        start_view.open_file_asked.connect(self.open_file)
        start_view.open_url_asked.connect(self.open_url)

    def several(self) -> bool:
        return len(self.session.streams()) > 1

    # ---- the timer ---------------------------------------------------------------------------------
    def pull(self) -> None:
        """Tiles for the streams there are now, the stage to match, the source state, camera probes."""
        self._sync_tiles()
        self._follow_source_state()
        while not self._probes.empty():
            self.start_view.set_cameras(self._probes.get_nowait())

    def _sync_tiles(self) -> None:
        """Tiles for the streams there are now, the stage to match, each tile's newest result."""
        streams = self.session.streams()
        if self.grid.sync(streams, self.session.focus):
            if len(streams) <= 1:
                self.focused_view = False
            if streams and self.stage.currentWidget() is not self.start_view:
                self.show_video()
        self._report_failures(streams)
        self._follow_focus()
        self.grid.pull()

    def _report_failures(self, streams) -> None:
        """A stream that fails says so on the terminal too, once."""
        several = len(streams) > 1
        for s in streams:
            state = s.state
            if state[0] == "failed" and self._reported.get(id(s)) != state:
                print(f"lookout: {s.name + ': ' if several else ''}{state[2]}", file=sys.stderr)
            self._reported[id(s)] = state

    def _follow_focus(self) -> None:
        f = self.session.focus
        if f is not self._shown_focus:
            self._shown_focus = f
            self.on_focus(f)

    def _follow_source_state(self) -> None:
        state = self.session.source_state
        if state == self._shown_state:
            return
        self._shown_state = state
        kind, spec, text = state
        if kind == "opening":
            self.on_opening()
            self.start_view.set_opening(spec)
        elif kind == "playing":
            self.start_view.set_reason("")
            self.show_video()
            self._remember_source(spec)
        elif kind == "failed" and not self.several():  # of several, the tile says it (and the terminal)
            self.show_start(text)
        elif kind == "none":
            self.show_start("")

    # ---- the grid ----------------------------------------------------------------------------------
    def _make_tile(self, stream) -> TileView:
        tile = TileView(stream)
        tile.set_blur(self.blur)
        tile.show_regions = self.view.show_regions  # G applies to tiles that come later too
        tile.on_select, tile.on_focus, tile.on_close = self.select_stream, self.focus_stream, self.close_stream
        return tile

    def show_video(self) -> None:
        self.stage.setCurrentWidget(self.view if self.focused_view or not self.several() else self.grid)

    def select_stream(self, stream) -> None:
        self.session.set_focus(stream)
        self._sync_tiles()

    def focus_stream(self, stream) -> None:
        """The tile's stream in the big view, with the controls on it."""
        self.select_stream(stream)
        self.focused_view = True
        self.show_video()
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def back_to_grid(self) -> None:
        if not self.focused_view or not self.several():
            return
        self.focused_view = False
        self.show_video()
        self.grid.setFocus(Qt.FocusReason.OtherFocusReason)

    def close_stream(self, stream) -> None:
        """Its capture is stopped and joined by the engine thread, not here."""
        self.session.remove_source(stream)
        self._sync_tiles()

    def add_stream(self, spec: str) -> None:
        """Another tile, named from its source, selected."""
        taken = [(s.name, "") for s in self.session.streams()]
        name = unique_names([*taken, (None, spec)])[-1]  # named as the command line names it
        self.session.add_source(spec, name=name)
        self.focused_view = False
        self._sync_tiles()

    # ---- sources -----------------------------------------------------------------------------------
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

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.parent, "Open video or image", "",
                                              "Media (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.bmp);;All (*)")
        if path:
            self.open_source(path)

    def open_camera(self) -> None:
        """The cameras present, as ``lookout --list-cameras`` lists them. On Linux that is a read of
        sysfs (instant); elsewhere listing means opening each device, too slow for the GUI thread, so
        the user types an index instead."""
        if not sys.platform.startswith("linux"):
            idx, ok = QInputDialog.getInt(self.parent, "Open webcam", "Camera index:", 0, 0, 63)
            if ok:
                self.open_source(str(idx))
            return
        cameras = list_cameras()
        if not cameras:
            self.say(describe_cameras(cameras), 8000)
            return
        items = [f"{c.index}: {c.name}  ({c.path})" for c in cameras]
        item, ok = QInputDialog.getItem(self.parent, "Open webcam", "Camera:", items, 0, False)
        if ok and item in items:
            self.open_source(str(cameras[items.index(item)].index))

    def open_url(self) -> None:
        url, ok = QInputDialog.getText(self.parent, "Open stream", "URL (rtsp://, http://):")
        if ok and url.strip():
            self.open_source(url.strip())

    def close(self) -> None:
        if self._probe_thread is not None:
            self._probe_thread.join(timeout=2.0)
