"""The video widget: the frame scaled with its aspect ratio kept, boxes and stats drawn with QPainter.

The frame is shown as a QImage (Format_BGR888) over the result's own array: no copy, and the
Result is kept on ``self`` for as long as the QImage may be painted. Overlays are painted on
the widget, never into the frame.
"""
from __future__ import annotations

import numpy as np
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QColor, QFont, QImage, QPainter, QPen
from PyQt6.QtWidgets import QSizePolicy, QWidget

from detector.draw import box_caption, class_color
from detector.results import Result


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
        self._image: np.ndarray | None = None
        self._qimage: QImage | None = None
        self.stats_lines: list[str] = []
        self.show_stats = True

    def set_result(self, result: Result) -> None:
        img = result.frame.image
        if not img.flags.c_contiguous:
            img = np.ascontiguousarray(img)
        self.result, self._image = result, img
        self._qimage = qimage_of(img)
        self.update()

    def frame_rect(self) -> QRectF:
        """Where the frame lands in the widget: scaled to fit, aspect ratio kept, centred."""
        if self._image is None:
            return QRectF()
        h, w = self._image.shape[:2]
        s = min(self.width() / w, self.height() / h)
        return QRectF((self.width() - w * s) / 2, (self.height() - h * s) / 2, w * s, h * s)

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
            self._paint_boxes(p)
        if self.show_stats and self.stats_lines:
            self._paint_stats(p)
        p.end()

    def _paint_boxes(self, p: QPainter) -> None:
        dets = self.result.detections
        font = QFont()
        font.setPointSizeF(9)
        p.setFont(font)
        fm = p.fontMetrics()
        for i, (x1, y1, x2, y2) in enumerate(self.widget_boxes()):
            b, g, r = class_color(dets.class_ids[i])
            color = QColor(r, g, b)
            p.setPen(QPen(color, 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(QRectF(x1, y1, x2 - x1, y2 - y1))
            text = box_caption(dets, i)
            tw, th = fm.horizontalAdvance(text) + 6, fm.height() + 2
            ty = y1 - th if y1 - th >= 0 else y1
            x1 = max(0.0, min(x1, self.frame_rect().right() - tw))  # keep the caption on the frame
            p.fillRect(QRectF(x1, ty, tw, th), color)
            p.setPen(QColor(255, 255, 255))
            p.drawText(QRectF(x1 + 3, ty, tw, th), Qt.AlignmentFlag.AlignVCenter, text)

    def _paint_stats(self, p: QPainter) -> None:
        font = QFont("monospace")
        font.setStyleHint(QFont.StyleHint.Monospace)
        font.setPointSizeF(9)
        p.setFont(font)
        fm = p.fontMetrics()
        w = max(fm.horizontalAdvance(l) for l in self.stats_lines) + 16
        h = fm.height() * len(self.stats_lines) + 12
        p.fillRect(QRectF(8, 8, w, h), QColor(0, 0, 0, 170))
        p.setPen(QColor(230, 255, 230))
        for i, line in enumerate(self.stats_lines):
            p.drawText(16, 14 + fm.ascent() + i * fm.height(), line)
