"""The window's side panel: folding sections (each a controller's widgets) in one scroll area, docked
on the right."""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QDockWidget, QFrame, QMainWindow, QScrollArea, QVBoxLayout, QWidget

from .section import Section

PANEL_MIN_WIDTH = 290


def side_panel(window: QMainWindow, sections: list[Section]) -> tuple[QDockWidget, QScrollArea]:
    """One dock holding ``sections`` in a scroll area, docked in ``window``: at any window height
    every control can be reached, and no section is ever squeezed over another."""
    content = QWidget()
    lay = QVBoxLayout(content)
    lay.setContentsMargins(6, 4, 6, 4)
    lay.setSpacing(2)
    for section in sections:
        lay.addWidget(section)
    lay.addStretch(1)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setFrameShape(QFrame.Shape.NoFrame)
    scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
    scroll.setWidget(content)
    scrollbar = scroll.verticalScrollBar().sizeHint().width()
    scroll.setMinimumWidth(max(content.minimumSizeHint().width(), PANEL_MIN_WIDTH) + scrollbar)
    dock = QDockWidget("Side panel", window)
    dock.setObjectName("panel")
    dock.setWidget(scroll)
    # No title bar (its height is worth more as panel rows), so nothing to drag: View > Side panel
    # hides and shows it, for a bigger video.
    dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable)
    dock.setTitleBarWidget(QWidget())
    window.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    return dock, scroll
