"""The classifier's top-5 for the whole frame, as bars; the bars take no room while it is off."""
from __future__ import annotations

from PyQt6.QtWidgets import QLabel, QProgressBar, QVBoxLayout, QWidget


class SceneBars(QWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.setSpacing(1)
        self.rows = []
        for _ in range(5):
            label, bar = QLabel(""), QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setMaximumHeight(8)
            lay.addWidget(label)
            lay.addWidget(bar)
            self.rows.append((label, bar))

    def show_result(self, result) -> None:
        frame_class = result.detections.frame_class
        top = frame_class.top if frame_class else ()
        self.setVisible(bool(top))
        for i, (label, bar) in enumerate(self.rows):
            label.setText(f"{top[i][0].split(',')[0]}  {top[i][1]:.2f}" if i < len(top) else "")
            bar.setValue(int(top[i][1] * 1000) if i < len(top) else 0)
