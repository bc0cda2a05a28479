"""The window on a laptop screen (issue #28): its minimum size, nothing drawn over anything at that
size, the side panel scrolling, the video keeping its aspect ratio, and the F1 help built from the
same table that binds the keys. The real window on the demo clip, offscreen."""
from __future__ import annotations

import itertools
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import DEMO_CLIP, next_results, no_thread_left, open_window, window  # noqa: E402,F401 (window: the fixture)


def _overlaps(root):
    """Pairs of visible sibling widgets whose rectangles intersect, anywhere under ``root``; and
    widgets in a layout squeezed below their own minimum size (how sections came to be drawn
    over each other)."""
    from PyQt6.QtWidgets import QSizePolicy, QWidget
    overlapping, squeezed = [], []
    _overlaps.pairs = 0
    for parent in [root, *root.findChildren(QWidget)]:
        if not parent.isVisible():
            continue
        kids = [w for w in parent.findChildren(QWidget, options=_direct())
                if w.isVisible() and not w.isWindow()]
        for a, b in itertools.combinations(kids, 2):
            _overlaps.pairs += 1
            if a.geometry().intersects(b.geometry()):
                overlapping.append((_name(a), _name(b), a.geometry(), b.geometry()))
        if parent.layout() is not None:
            for w in kids:
                hint, size = w.minimumSizeHint(), w.size()
                ignored = w.sizePolicy().horizontalPolicy() == QSizePolicy.Policy.Ignored
                if w.minimumSize().isNull() and ((size.width() < hint.width() and not ignored)
                                                 or size.height() < hint.height()):
                    squeezed.append((_name(w), size, hint))
    return overlapping, squeezed


def _direct():
    from PyQt6.QtCore import Qt
    return Qt.FindChildOption.FindDirectChildrenOnly


def _name(w) -> str:
    text = getattr(w, "text", None)
    return f"{type(w).__name__}({text() if callable(text) else ''!r} in {type(w.parentWidget()).__name__})"


def test_minimum_size_fits_a_laptop_and_nothing_overlaps_at_it(window, qtbot):
    from PyQt6.QtCore import QSize
    minimum = window.minimumSize().expandedTo(window.minimumSizeHint())
    assert minimum.width() <= 1024 and minimum.height() <= 640, minimum
    window.resize(minimum)
    qtbot.waitUntil(lambda: window.size() == minimum, timeout=5000)
    next_results(qtbot, window, 2)  # laid out and painted at that size
    overlapping, squeezed = _overlaps(window)
    assert not overlapping, overlapping
    assert not squeezed, squeezed
    assert _overlaps.pairs > 100  # the check saw the panel's widgets, not an empty tree
    # every control can be reached: the panel scrolls instead of squeezing its sections
    scroll = window.panel_scroll
    assert scroll.widget().height() > scroll.viewport().height()
    assert scroll.verticalScrollBar().isVisible()
    for button in window.counters.counter_buttons.values():  # the ones the issue found below the screen edge
        scroll.ensureWidgetVisible(button)
        qtbot.wait(50)
        top_left = button.mapTo(scroll.viewport(), button.rect().topLeft())
        assert scroll.viewport().rect().contains(top_left), button.text()
    # the video keeps the frame's aspect ratio (768x576)
    r = window.view.frame_rect()
    assert abs(r.width() / r.height() - 768 / 576) < 0.01
    assert window.view.width() >= 400 and window.view.height() >= 300
    assert minimum.expandedTo(QSize(1280, 720 - 30)) == QSize(1280, 690)  # a 1280x720 laptop fits it


def test_at_1366x768_every_panel_control_is_on_screen(window, qtbot):
    """The panel at a 1366 x 768 laptop's maximised size (title bar, menu and status bar off): all
    sections open, nothing overlapping, no control cut off below the window."""
    window.resize(1366, 740)
    qtbot.waitUntil(lambda: window.height() == 740, timeout=5000)
    next_results(qtbot, window, 2)
    overlapping, squeezed = _overlaps(window)
    assert not overlapping and not squeezed, (overlapping, squeezed)
    assert all(s.expanded for s in window.sections.values())
    for button in [*window.counters.counter_buttons.values(), window.counters.track_box, window.model_panel.classify_box, window.model_panel.device_box]:
        bottom = button.mapTo(window, button.rect().bottomLeft()).y()
        assert bottom < window.statusBar().mapTo(window, window.statusBar().rect().topLeft()).y(), _name(button)


def test_classifier_bars_take_no_room_while_it_is_off(window, qtbot):
    assert window.model_panel.classify_box.currentText() == "off"
    next_results(qtbot, window)
    assert not window.scene_bars.isVisible()


def test_sections_fold(window, qtbot):
    section = window.sections["Classes"]
    height = window.panel_scroll.widget().sizeHint().height()
    section.header.click()
    assert not section.expanded and not window.model_panel.classes.isVisible()
    qtbot.waitUntil(lambda: window.panel_scroll.widget().sizeHint().height() < height - 80, timeout=2000)
    section.header.click()
    assert section.expanded and window.model_panel.classes.isVisible()


def test_help_is_built_from_the_bindings(window, qtbot):
    """Every key the window binds (its QActions, read back) and every entry of the bindings table is in
    the F1 help, with its description; so are the mouse actions."""
    from PyQt6.QtGui import QKeySequence

    from lookout_ui.bindings import KEYS, MOUSE
    from lookout_ui.help_dialog import key_text
    help_action = next(a for a in window.actions() if a.shortcut() == QKeySequence("F1"))
    help_action.trigger()
    dialog = window.help_dialog
    assert dialog is not None and dialog.isVisible() and dialog.table.columnCount() == 2
    rows = dialog.rows()
    keys_in_help = {k for k, _ in rows}
    bound = {a.shortcut().toString(QKeySequence.SequenceFormat.NativeText) for a in window.actions()
             if not a.shortcut().isEmpty()}
    assert bound and bound <= keys_in_help, bound - keys_in_help
    for b in KEYS:
        assert (key_text(b.key), b.help) in rows
    for gesture, text in MOUSE:
        assert (gesture, text) in rows
    assert len(rows) == len(KEYS) + len(MOUSE)
    assert {"Space", "S", "R", "Esc", "F1"} <= keys_in_help
    assert any("Drag" in k for k in keys_in_help) and any("ouble-click" in k for k in keys_in_help)
    # Esc closes it (the application-wide Esc would otherwise take the key from the dialog)
    from PyQt6.QtCore import Qt
    dialog.activateWindow()
    qtbot.waitUntil(dialog.isActiveWindow, timeout=2000)
    qtbot.keyClick(dialog.table, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
