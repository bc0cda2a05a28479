"""The keys work the shortcuts whichever panel was used last, except while typing in a text field;
Esc or a click on the video gives them back (issue #28). Real key and mouse events, offscreen."""
from __future__ import annotations

import operator
import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import DEMO_CLIP, next_results, no_thread_left, open_window, window  # noqa: E402,F401 (window: the fixture)


def _snapshots(win):
    folder = win.recording.folders.folder("snapshots")
    return sorted(folder.glob("*.png")) if folder.exists() else []


def test_typing_in_the_search_box_then_esc_gives_the_keys_back(window, qtbot):
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication
    qtbot.mouseClick(window.model_panel.class_search, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.model_panel.class_search.hasFocus(), timeout=2000)
    qtbot.keyClicks(window.model_panel.class_search, "pers")
    qtbot.keyClick(window.model_panel.class_search, Qt.Key.Key_S)  # typed, not a snapshot
    qtbot.keyClick(window.model_panel.class_search, Qt.Key.Key_Space)
    assert window.model_panel.class_search.text() == "perss "
    assert _snapshots(window) == [] and not window.session.paused
    qtbot.keyClick(window.model_panel.class_search, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is window.view
    qtbot.keyClick(QApplication.focusWidget(), Qt.Key.Key_S)
    assert len(_snapshots(window)) == 1
    assert window.model_panel.class_search.text() == "perss "


def test_a_click_on_the_video_gives_the_keys_back(window, qtbot):
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication
    qtbot.mouseClick(window.model_panel.class_search, Qt.MouseButton.LeftButton)
    qtbot.keyClicks(window.model_panel.class_search, "car")
    assert window.model_panel.class_search.hasFocus()
    qtbot.mouseClick(window.view, Qt.MouseButton.LeftButton)
    assert QApplication.focusWidget() is window.view
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    assert window.session.paused and window.act_pause.isChecked()
    qtbot.keyClick(window.view, Qt.Key.Key_Space)
    assert not window.session.paused
    assert window.model_panel.class_search.text() == "car"


@pytest.mark.parametrize("panel", ["model_panel.classes", "model_panel.class_all", "model_panel.conf",
                                   "model_panel.classify_box", "counters.track_box", "counters.counter_list"])
def test_shortcuts_work_whichever_panel_was_used_last(window, qtbot, panel):
    from PyQt6.QtCore import Qt
    from PyQt6.QtWidgets import QApplication
    widget = operator.attrgetter(panel)(window)
    window.sections["Classes"].set_expanded(True)
    widget.setFocus(Qt.FocusReason.MouseFocusReason)  # as a click on it leaves it
    qtbot.waitUntil(lambda: QApplication.focusWidget() is widget, timeout=2000)
    tracks = window.view.show_tracks
    qtbot.keyClick(widget, Qt.Key.Key_T)
    assert window.view.show_tracks is not tracks
    qtbot.keyClick(widget, Qt.Key.Key_S)
    assert len(_snapshots(window)) == 1
    qtbot.keyClick(widget, Qt.Key.Key_Space)
    assert window.session.paused
    qtbot.keyClick(widget, Qt.Key.Key_Space)
    assert not window.session.paused
    next_results(qtbot, window)
