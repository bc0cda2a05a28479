"""Several streams in the window: the grid of tiles, the selected stream (the one the side panel's
controls act on), the focus view (a double-clicked tile in the big single-stream view), closing a
tile. One stream is the N = 1 case: no grid, the big view as it always was. A mixin of MainWindow;
all on the GUI thread, which only reads what the engine published and sends requests."""
from __future__ import annotations

import sys

from PyQt6.QtCore import Qt

from detector.engine.stream_names import unique_names

from .stream_grid import StreamGrid
from .tile_view import TileView


class GridActions:
    def _grid(self) -> None:
        self.grid = StreamGrid()
        self.grid.make_tile = self._make_tile
        self.focused_view = False  # several streams: True while one is shown big
        self._shown_focus = None
        self._reported: dict[int, tuple] = {}
        self.stage.addWidget(self.grid)
        self.view.on_double_click = self.back_to_grid

    def _make_tile(self, stream) -> TileView:
        tile = TileView(stream)
        tile.set_blur(self.config.blur)
        tile.on_select, tile.on_focus, tile.on_close = self.select_stream, self.focus_stream, self.close_stream
        return tile

    @property
    def models(self):
        """The selected stream's models (its class filter, classifier mode, tracker and counters)."""
        f = self.session.focus
        return f.models if f is not None else self.base_models

    def several(self) -> bool:
        return len(self.session.streams()) > 1

    def _show_video(self) -> None:
        self.stage.setCurrentWidget(self.view if self.focused_view or not self.several() else self.grid)

    def select_stream(self, stream) -> None:
        self.session.set_focus(stream)
        self._sync_tiles()

    def focus_stream(self, stream) -> None:
        """The tile's stream in the big view, with the controls on it."""
        self.select_stream(stream)
        self.focused_view = True
        self._show_video()
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)

    def back_to_grid(self) -> None:
        if not self.focused_view or not self.several():
            return
        self.focused_view = False
        self._show_video()
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

    def _sync_tiles(self) -> None:
        """Tiles for the streams there are now, the stage to match, each tile's newest result."""
        streams = self.session.streams()
        if self.grid.sync(streams, self.session.focus):
            if len(streams) <= 1:
                self.focused_view = False
            if streams and self.stage.currentWidget() is not self.start_view:
                self._show_video()
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
        """Another stream selected: the big view and the side panel show its state."""
        f = self.session.focus
        if f is self._shown_focus:
            return
        self._shown_focus = f
        self._shown_key = None
        self.display_rate.restart()
        self.display_age.clear()
        result = f.latest()[0] if f is not None else None
        if result is not None:
            self.view.set_result(result)
        self._fill_classes()
        m = self.models
        for box, set_value in ((self.classify_box, lambda: self.classify_box.setCurrentText(m.snapshot().classify)),
                               (self.track_box, lambda: self.track_box.setChecked(m.analytics is not None))):
            box.blockSignals(True)  # showing the stream's settings is not changing them
            set_value()
            box.blockSignals(False)
        self._fill_counters()
        conf = f.engine.min_score if f is not None else None
        if conf is not None:
            self.conf.blockSignals(True)
            self.conf.setValue(round(conf * 100))
            self.conf.blockSignals(False)
            self.conf_label.setText(f"{conf:.2f}")
