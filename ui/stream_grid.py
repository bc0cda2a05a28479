"""The grid of stream tiles: as many columns and rows as make the frames biggest in the video area,
each tile keeping its frame's aspect ratio (the tile letterboxes it)."""
from __future__ import annotations

import math

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QSizePolicy, QWidget

from .tile_view import TileView

GAP = 4


def grid_shape(n: int, width: float, height: float, aspect: float = 4 / 3) -> tuple[int, int]:
    """(columns, rows) for ``n`` tiles of ``aspect`` (width / height) in ``width`` x ``height``: the
    shape whose frames come out biggest; of equals, the one with fewer empty cells."""
    if n <= 0:
        return 0, 0
    best, shape = -1.0, (1, n)
    for cols in range(1, n + 1):
        rows = math.ceil(n / cols)
        scale = min((width - GAP * (cols - 1)) / cols / aspect, (height - GAP * (rows - 1)) / rows)
        if scale > best + 1e-6:
            best, shape = scale, (cols, rows)
    return shape


class StreamGrid(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(480, 320)
        self.setFocusPolicy(Qt.FocusPolicy.ClickFocus)
        self.setStyleSheet("background: rgb(20, 20, 20);")
        self.setAttribute(Qt.WidgetAttribute.WA_StyledBackground)
        self.tiles: list[TileView] = []
        self.make_tile = TileView  # f(stream) -> TileView: the window wires its callbacks

    def sync(self, streams: list, selected) -> bool:
        """One tile per stream, in the streams' order; True if tiles came or went."""
        have = {id(t.stream): t for t in self.tiles}
        changed = [id(s) for s in streams] != [id(t.stream) for t in self.tiles]
        if changed:
            keep = {id(s) for s in streams}
            for t in self.tiles:
                if id(t.stream) not in keep:
                    t.hide()
                    t.deleteLater()
            self.tiles = [have.get(id(s)) or self._new_tile(s) for s in streams]
            self.arrange()
        for t in self.tiles:
            if t.selected != (t.stream is selected):
                t.selected = t.stream is selected
                t.update()
        return changed

    def _new_tile(self, stream) -> TileView:
        tile = self.make_tile(stream)
        tile.setParent(self)
        tile.show()
        return tile

    def arrange(self) -> None:
        aspect = next((t._image.shape[1] / t._image.shape[0] for t in self.tiles if t._image is not None), 4 / 3)
        cols, rows = grid_shape(len(self.tiles), self.width(), self.height(), aspect)
        if not cols:
            return
        w = (self.width() - GAP * (cols - 1)) / cols
        h = (self.height() - GAP * (rows - 1)) / rows
        for i, tile in enumerate(self.tiles):
            r, c = divmod(i, cols)
            tile.setGeometry(round(c * (w + GAP)), round(r * (h + GAP)), int(w), int(h))

    def pull(self) -> None:
        for t in self.tiles:
            had_frame = t._image is not None
            t.pull()
            if not had_frame and t._image is not None:
                self.arrange()  # the first frame gives the aspect ratio to arrange for

    def resizeEvent(self, event) -> None:
        self.arrange()
        super().resizeEvent(event)
