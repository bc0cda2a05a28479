"""The video widget: the frame as the outputs draw it, scaled with its aspect ratio kept, and the
window's own overlays (stats, a counter being drawn) painted over it with QPainter.

Boxes, labels, trails, counters and counts are drawn by ``ops.draw.Annotation``, the renderer of
every file output and snapshot, label layout included: the screen, a snapshot and a recording of
the same moment show the same labels in the same places. The drawing is a copy; the result's own
frame is never drawn on. It is shown as a QImage (Format_BGR888) over that copy, kept on ``self``
for as long as the QImage may be painted.
"""
from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QPointF, QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen, QPolygonF
from PyQt6.QtWidgets import QSizePolicy, QWidget

from detector.analytics.counting import Line, Zone
from detector.ops.draw import Annotation
from detector.types.results import Result


def qimage_of(image: np.ndarray) -> QImage:
    """A QImage viewing ``image`` (HxWx3 uint8 BGR, C-contiguous rows); the caller keeps the array alive."""
    h, w = image.shape[:2]
    return QImage(image.data, w, h, image.strides[0], QImage.Format.Format_BGR888)


class VideoView(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(320, 240)
        self.setAutoFillBackground(False)
        self.result: Result | None = None
        self._image: np.ndarray | None = None  # what is shown: the result's frame as the outputs draw it
        self._qimage: QImage | None = None
        self.label_rects = np.zeros((0, 4), np.int64)  # where the labels of the frame shown are, in frame pixels
        self.annotation = Annotation()  # the window's --blur: set_blur
        self.stats_lines: list[str] = []
        self.show_stats = True
        self.show_tracks = True  # track IDs in the captions and ~1 s trails
        self.show_regions = False  # the regions the detector looked at (--regions), G
        # Drawing a counter with the mouse: "line" (press, drag, release) or "zone" (click the
        # corners, double-click to close). ``on_counter(Line | Zone)`` gets it in frame pixels.
        self.draw_mode: str | None = None
        self.on_counter = None
        self.on_double_click = None  # f(): a double-click while not drawing (the window: back to the grid)
        self._draft: list[tuple[float, float]] = []
        self._cursor: tuple[float, float] | None = None
        self.setMouseTracking(True)

    def set_result(self, result: Result) -> None:
        """Show ``result``: its frame drawn by the outputs' renderer (track IDs and trails while
        ``show_tracks``)."""
        dets = result.detections if self.show_tracks else _untracked(result.detections)
        drawn, self.label_rects, _ = self.annotation.draw(result.frame.image, dets, analytics=result.analytics,
                                                          states=result.states)
        self.result, self._image = result, np.ascontiguousarray(drawn)
        self._qimage = qimage_of(self._image)
        self.update()

    def set_blur(self, classes) -> None:
        """Pixelate the boxes of these class names, as the outputs do (--blur)."""
        self.annotation = Annotation(classes)
        self.redraw()

    def redraw(self) -> None:
        """Draw the shown result again (after a change of what is drawn, e.g. while paused)."""
        if self.result is not None:
            self.set_result(self.result)

    @property
    def drawn(self) -> np.ndarray | None:
        """The frame as shown, HxWx3 uint8 BGR, before scaling: what a snapshot saves."""
        return self._image

    def frame_rect(self) -> QRectF:
        """Where the frame lands in the widget: scaled to fit, aspect ratio kept, centred."""
        if self._image is None:
            return QRectF()
        h, w = self._image.shape[:2]
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

    def to_frame(self, x: float, y: float) -> tuple[float, float]:
        """Widget coordinates -> frame pixels (clamped to the frame)."""
        r = self.frame_rect()
        if r.width() <= 0:
            return 0.0, 0.0
        s = r.width() / self._image.shape[1]
        h, w = self._image.shape[:2]
        return min(max((x - r.x()) / s, 0.0), w), min(max((y - r.y()) / s, 0.0), h)

    def to_widget(self, x: float, y: float) -> QPointF:
        r = self.frame_rect()
        s = r.width() / self._image.shape[1]
        return QPointF(r.x() + x * s, r.y() + y * s)

    def start_drawing(self, mode: str | None) -> None:
        self.draw_mode, self._draft, self._cursor = mode, [], None
        self.setCursor(Qt.CursorShape.CrossCursor if mode else Qt.CursorShape.ArrowCursor)
        self.update()

    def _finish(self, counter) -> None:
        self.start_drawing(None)
        if self.on_counter is not None:
            self.on_counter(counter)

    def mousePressEvent(self, event) -> None:
        if self.draw_mode is None or self._image is None or event.button() != Qt.MouseButton.LeftButton:
            return super().mousePressEvent(event)
        pt = self.to_frame(event.position().x(), event.position().y())
        if self.draw_mode == "line":
            self._draft = [pt]
        elif not self._draft or self._draft[-1] != pt:
            self._draft.append(pt)
        self.update()

    def mouseMoveEvent(self, event) -> None:
        if self.draw_mode is not None and self._image is not None:
            self._cursor = self.to_frame(event.position().x(), event.position().y())
            self.update()
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event) -> None:
        if self.draw_mode == "line" and self._draft and event.button() == Qt.MouseButton.LeftButton:
            end = self.to_frame(event.position().x(), event.position().y())
            if np.hypot(end[0] - self._draft[0][0], end[1] - self._draft[0][1]) >= 4:  # a click is not a line
                self._finish(Line("", self._draft[0], end))
            return
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if self.draw_mode == "zone" and self._image is not None:
            pt = self.to_frame(event.position().x(), event.position().y())
            if not self._draft or self._draft[-1] != pt:  # the press before it usually added it already
                self._draft.append(pt)
            if len(self._draft) >= 3:
                self._finish(Zone("", tuple(self._draft)))
            return
        if self.draw_mode is None and self.on_double_click is not None:
            self.on_double_click()
            return
        super().mouseDoubleClickEvent(event)

    def widget_boxes(self) -> np.ndarray:
        """The current boxes in widget coordinates (N, 4) xyxy, as they are drawn."""
        if self.result is None:
            return np.zeros((0, 4), np.float32)
        r = self.frame_rect()
        s = r.width() / self._image.shape[1]
        xyxy = self.result.detections.xyxy.astype(np.float64) * s
        return (xyxy + [r.x(), r.y(), r.x(), r.y()]).astype(np.float32)

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor(20, 20, 20))
        if self._qimage is not None:
            p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            p.drawImage(self.frame_rect(), self._qimage)
            if self.show_regions:
                self._paint_regions(p)
            self._paint_draft(p)
        if self.show_stats and self.stats_lines:
            self._paint_stats(p)
        p.end()

    REGION_COLOURS = {"full": (255, 255, 255), "grid": (180, 180, 180), "object": (255, 200, 0),
                      "motion": (255, 0, 255), "sweep": (0, 200, 255)}  # RGB

    def _paint_regions(self, p: QPainter) -> None:
        """The squares the detector looked at for this frame, each labelled with why (engine.regions);
        nothing when it saw the whole frame as it is."""
        regions = self.result.regions
        p.setBrush(Qt.BrushStyle.NoBrush)
        for r in regions:
            colour = QColor(*self.REGION_COLOURS.get(r.kind, (255, 255, 255)))
            p.setPen(QPen(colour, 1, Qt.PenStyle.DashLine))
            a, b = self.to_widget(r.x0, r.y0), self.to_widget(r.x1, r.y1)
            p.drawRect(QRectF(a, b).adjusted(1, 1, -1, -1))
            p.setPen(colour)
            p.drawText(QPointF(a.x() + 4, b.y() - 4), r.kind)

    def _paint_draft(self, p: QPainter) -> None:
        if self.draw_mode is None:
            return
        pts = self._draft + ([self._cursor] if self._cursor else [])
        p.setPen(QPen(QColor(255, 80, 255), 2, Qt.PenStyle.DashLine))
        if len(pts) > 1:
            p.drawPolyline(QPolygonF([self.to_widget(*pt) for pt in pts]))
        hint = "drag to draw the line" if self.draw_mode == "line" else "click the corners, double-click to close"
        p.setPen(QColor(255, 80, 255))
        p.drawText(QPointF(self.frame_rect().x() + 10, self.frame_rect().y() + 20), hint + " (Esc cancels)")

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_Escape and self.draw_mode is not None:
            self.start_drawing(None)
            return
        super().keyPressEvent(event)

    def _paint_stats(self, p: QPainter) -> None:
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSizeF(9)
        p.setFont(font)
        fm = p.fontMetrics()
        w = max(fm.horizontalAdvance(l) for l in self.stats_lines) + 16
        h = fm.height() * len(self.stats_lines) + 12
        self.stats_rect = QRectF(8, 8, w, h)  # what it covers, for tools that check the picture
        p.fillRect(self.stats_rect, QColor(0, 0, 0, 170))
        p.setPen(QColor(230, 255, 230))
        for i, line in enumerate(self.stats_lines):
            p.drawText(16, 14 + fm.ascent() + i * fm.height(), line)


def _untracked(dets):
    return dets if dets.track_ids is None else dets.with_track_ids(np.full(len(dets), -1))
