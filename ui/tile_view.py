"""One stream's tile in the grid: its newest frame and boxes (painted as the big view paints them),
a caption band with its name, fps, frame age and state, and a close button.

A click selects the tile (the side panel's controls act on it), a double-click makes it the focus
(the big single-stream view); the window passes the callbacks. It reads only what the engine
published: the GUI thread never waits here.
"""
from __future__ import annotations

import time

from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QPainter, QPen
from PyQt6.QtWidgets import QToolButton

from detector.io.sources import mask_url

from .video_view import VideoView

SELECTED = QColor(80, 160, 255)
STATE_COLORS = {"live": QColor(120, 230, 120), "reconnecting": QColor(255, 190, 60), "opening": QColor(200, 200, 200),
                "ended": QColor(200, 200, 200), "failed": QColor(255, 90, 90)}


def tile_state(stream) -> str:
    """What the tile says the stream is doing: live, reconnecting, opening, ended or failed."""
    kind = stream.state[0]
    if kind == "playing":
        return "reconnecting" if stream.reconnecting else "live"
    return kind if kind in STATE_COLORS else "opening"


class TileView(VideoView):
    def __init__(self, stream, parent=None):
        super().__init__(parent)
        self.stream = stream
        self.setMinimumSize(120, 90)  # nine tiles fit the smallest window's video area
        self.show_stats = False
        self.selected = False
        self.seq = 0
        self.age_ms = 0.0
        self.caption = ""
        self.on_select = None   # f(stream)
        self.on_focus = None    # f(stream)
        self.on_close = None    # f(stream)
        self.close_btn = QToolButton(self)
        self.close_btn.setText("✕")
        self.close_btn.setToolTip(f"close {stream.name}: stop this stream")
        self.close_btn.setAutoRaise(True)
        self.close_btn.setStyleSheet("QToolButton { color: white; background: rgba(0,0,0,120); border: none; }")
        self.close_btn.clicked.connect(lambda: self.on_close and self.on_close(self.stream))

    def pull(self) -> None:
        """Show the stream's newest result if it is new, and its caption if that changed."""
        result, seq = self.stream.latest()
        if result is not None and seq != self.seq:
            self.seq = seq
            self.age_ms = (time.monotonic() - result.frame.captured_at) * 1000
            self.set_result(result)
        caption = self.caption_text()
        if caption != self.caption:
            self.caption = caption
            self.update()

    def caption_text(self) -> str:
        state = tile_state(self.stream)
        if state in ("live", "reconnecting"):
            return f"{self.stream.stats.rate('inferred'):4.1f} fps  age {self.age_ms:4.0f} ms  {state}"
        if state == "failed":
            return f"failed: {self.stream.state[2]}"
        if state == "opening":
            return f"opening {mask_url(self.stream.state[1])}…"
        return state

    def resizeEvent(self, event) -> None:
        side = self.close_btn.sizeHint().height()
        self.close_btn.setGeometry(self.width() - side - 2, 2, side, side)
        super().resizeEvent(event)

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.on_select is not None:
            self.on_select(self.stream)
        super().mousePressEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.on_focus is not None:
            self.on_focus(self.stream)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        p = QPainter(self)
        font = QFont()
        font.setPointSizeF(9)
        p.setFont(font)
        fm = p.fontMetrics()
        band = QRectF(0, 0, self.width(), fm.height() + 6)
        p.fillRect(band, QColor(0, 0, 0, 170))
        bold = QFont(font)
        bold.setBold(True)
        p.setFont(bold)
        p.setPen(QColor(255, 255, 255))
        name_w = p.fontMetrics().horizontalAdvance(self.stream.name) + 12
        p.drawText(band.adjusted(6, 0, 0, 0), Qt.AlignmentFlag.AlignVCenter, self.stream.name)
        p.setFont(font)
        p.setPen(STATE_COLORS[tile_state(self.stream)])
        room = band.adjusted(name_w, 0, -(self.close_btn.width() + 6), 0)
        p.drawText(room, Qt.AlignmentFlag.AlignVCenter, fm.elidedText(self.caption, Qt.TextElideMode.ElideRight,
                                                                      int(room.width())))
        if self.selected:
            p.setPen(QPen(SELECTED, 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(1.5, 1.5, self.width() - 3, self.height() - 3))
        p.end()
