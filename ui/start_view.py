"""What the window shows when there is nothing to play: the sources it can open, and why the last
one failed. The window fills in the cameras (probed off the GUI thread) and the recent sources."""
from __future__ import annotations

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (QFrame, QGroupBox, QHBoxLayout, QLabel, QPushButton, QScrollArea, QVBoxLayout,
                             QWidget)

from detector.io.camera import CameraInfo, describe_cameras
from detector.io.sources import mask_url
from detector.models.registry import ASSETS

DEMO_CLIP = ASSETS / "demo_vtest.mp4"


class StartView(QScrollArea):
    chosen = pyqtSignal(str)          # a source spec to open
    open_file_asked = pyqtSignal()
    open_url_asked = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setWidgetResizable(True)
        self.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget()
        outer = QHBoxLayout(page)
        column = QWidget()
        column.setMaximumWidth(560)
        lay = QVBoxLayout(column)
        title = QLabel("<h2>Open a source</h2>")
        lay.addWidget(title)
        self.reason = QLabel("")
        self.reason.setWordWrap(True)
        self.reason.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.reason.setStyleSheet("QLabel { color: #b00020; }")
        lay.addWidget(self.reason)
        self.cameras_box = QGroupBox("Cameras")
        self.cameras_lay = QVBoxLayout(self.cameras_box)
        lay.addWidget(self.cameras_box)
        row = QHBoxLayout()
        self.file_btn, self.url_btn = QPushButton("Open file…"), QPushButton("Open URL…")
        self.demo_btn = QPushButton("Demo clip")
        self.demo_btn.setToolTip(str(DEMO_CLIP))
        self.demo_btn.setEnabled(DEMO_CLIP.exists())
        self.file_btn.clicked.connect(self.open_file_asked)
        self.url_btn.clicked.connect(self.open_url_asked)
        self.demo_btn.clicked.connect(lambda: self.chosen.emit(str(DEMO_CLIP)))
        for b in (self.file_btn, self.url_btn, self.demo_btn):
            row.addWidget(b)
        lay.addLayout(row)
        self.recent_box = QGroupBox("Recent")
        self.recent_lay = QVBoxLayout(self.recent_box)
        lay.addWidget(self.recent_box)
        self.opening = QLabel("")
        lay.addWidget(self.opening)
        lay.addStretch(1)
        outer.addStretch(1)
        outer.addWidget(column, 4)
        outer.addStretch(1)
        self.setWidget(page)
        self.camera_buttons: list[QPushButton] = []
        self.recent_buttons: list[QPushButton] = []
        self.set_cameras(None)
        self.set_recent([])

    def set_reason(self, text: str) -> None:
        self.reason.setText(text)
        self.reason.setVisible(bool(text))

    def set_opening(self, spec: str) -> None:
        self.opening.setText(f"opening {mask_url(spec)}…" if spec else "")

    def set_cameras(self, cameras: list[CameraInfo] | None) -> None:
        """None: still looking."""
        self.camera_buttons = _refill(self.cameras_lay, [
            (f"{c.index}: {c.name}  ({c.path})", str(c.index)) for c in cameras or []], self.chosen)
        if cameras is None or not cameras:
            self.cameras_lay.addWidget(_wrapped("looking for cameras…" if cameras is None else describe_cameras([])))

    def set_recent(self, specs: list[str]) -> None:
        self.recent_buttons = _refill(self.recent_lay, [(mask_url(s), s) for s in specs], self.chosen)
        self.recent_box.setVisible(bool(specs))


def _wrapped(text: str) -> QLabel:
    label = QLabel(text)
    label.setWordWrap(True)
    return label


def _refill(layout, entries: list[tuple[str, str]], chosen) -> list[QPushButton]:
    while layout.count():
        w = layout.takeAt(0).widget()
        if w is not None:
            w.deleteLater()
    buttons = []
    for text, spec in entries:
        b = QPushButton(text)
        b.setStyleSheet("QPushButton { text-align: left; padding: 4px 8px; }")
        b.clicked.connect(lambda _=False, s=spec: chosen.emit(s))
        layout.addWidget(b)
        buttons.append(b)
    return buttons
