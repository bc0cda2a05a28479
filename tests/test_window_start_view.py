"""The start view instead of a blank window (issue #28): when there is no source or it fails, the
window lists what it can open and says why, the terminal gets the same line, and a pick plays."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import DEMO_CLIP, next_results, no_thread_left, open_window  # noqa: E402


@pytest.fixture()
def failed(qtbot, tmp_path):
    """The window on camera index 9: no such camera here."""
    with no_thread_left():
        win = open_window(qtbot, tmp_path, "9", frames=0)
        yield win
        win.close()


def test_a_failed_source_shows_the_start_view_with_the_reason(capfd, failed, qtbot):  # capfd first: it must catch the line
    from detector.io.camera import list_cameras
    win = failed
    qtbot.waitUntil(lambda: win.stage.currentWidget() is win.start_view, timeout=20000)
    state, spec, reason = win.session.source_state
    assert (state, spec) == ("failed", "9") and reason.startswith("no camera at index 9")
    assert win.start_view.reason.text() == reason and win.start_view.reason.isVisible()
    assert "try --source 9" not in reason  # not the source that just failed
    assert f"lookout: {reason}" in capfd.readouterr().err.splitlines()
    # the cameras --list-cameras finds, probed off the GUI thread
    qtbot.waitUntil(lambda: win.streams._probe_thread is not None and not win.streams._probe_thread.is_alive(), timeout=5000)
    qtbot.waitUntil(lambda: win.streams._probes.empty(), timeout=2000)
    win.pull()
    assert len(win.start_view.camera_buttons) == len(list_cameras())
    for button in (win.start_view.file_btn, win.start_view.url_btn, win.start_view.demo_btn):
        assert button.isVisible() and button.isEnabled()
    assert win.shown_seq == 0
    qtbot.wait(1000)
    assert win.stage.currentWidget() is win.start_view  # it stays until the user picks


def test_picking_the_demo_clip_plays_it_and_remembers_it(failed, qtbot):
    from PyQt6.QtCore import Qt
    win = failed
    qtbot.waitUntil(lambda: win.stage.currentWidget() is win.start_view, timeout=20000)
    qtbot.mouseClick(win.start_view.demo_btn, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: win.stage.currentWidget() is win.view, timeout=20000)
    next_results(qtbot, win, 2)
    assert win.session.source_state[:2] == ("playing", str(DEMO_CLIP))
    assert win.streams.recent_sources() == [str(DEMO_CLIP)]
    assert not win.start_view.reason.isVisible()
    # Ctrl+N brings the sources back, the recent one among them; Esc returns to the playing video
    qtbot.keyClick(win.view, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    assert win.stage.currentWidget() is win.start_view
    assert [b.text() for b in win.start_view.recent_buttons] == [str(DEMO_CLIP)]
    qtbot.keyClick(win.start_view, Qt.Key.Key_Escape)
    assert win.stage.currentWidget() is win.view


def test_no_source_opens_on_the_start_view(qtbot, tmp_path):
    with no_thread_left():
        win = open_window(qtbot, tmp_path, None, frames=0)
        try:
            qtbot.waitUntil(lambda: win.stage.currentWidget() is win.start_view, timeout=5000)
            assert not win.start_view.reason.isVisible()
            win.start_view.chosen.emit(str(DEMO_CLIP))
            qtbot.waitUntil(lambda: win.shown_seq >= 2, timeout=20000)
            assert win.stage.currentWidget() is win.view
        finally:
            win.close()


def test_a_source_with_a_password_is_not_remembered(failed, qtbot):
    failed.streams._remember_source("rtsp://user:secret@192.0.2.1/stream")
    failed.streams._remember_source(str(DEMO_CLIP))
    assert failed.streams.recent_sources() == [str(DEMO_CLIP)]


def test_a_camera_lost_for_good_brings_the_start_view_back(qtbot, tmp_path, monkeypatch, capfd):
    """The stand-in camera of test_camera: it plays, then its cable is pulled and stays out."""
    from detector.io import camera
    from test_camera import Device, StandInCamera
    dev = Device()
    monkeypatch.setattr(camera, "open_camera", lambda index: StandInCamera(dev))
    with no_thread_left():
        win = open_window(qtbot, tmp_path, "0", reconnect_attempts=1)
        try:
            assert win.stage.currentWidget() is win.view
            dev.disconnect_after = dev.delivered + 3
            qtbot.waitUntil(lambda: win.stage.currentWidget() is win.start_view, timeout=20000)
            state, spec, reason = win.session.source_state
            assert (state, spec) == ("failed", "0") and reason.startswith("source lost: lost camera 0")
            assert win.start_view.reason.text() == reason
            assert f"lookout: {reason}" in capfd.readouterr().err.splitlines()
        finally:
            win.close()
