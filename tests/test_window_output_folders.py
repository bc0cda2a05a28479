"""Snapshots and recordings go to folders the user sees and can change (issue #28): remembered
between runs, the full path shown with an Open folder action, and no file ever overwritten."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import DEMO_CLIP, next_results, no_thread_left, open_window, window  # noqa: E402,F401 (window: the fixture)


def test_snapshot_shows_its_full_path_and_opens_its_folder(window, qtbot, tmp_path, monkeypatch):
    import lookout_ui.notice
    opened = []
    monkeypatch.setattr(lookout_ui.notice.QDesktopServices, "openUrl", staticmethod(lambda url: opened.append(url)))
    next_results(qtbot, window)
    path = window.recording.snapshot()
    assert path.parent == tmp_path / "snapshots" and path.is_absolute() and path.stat().st_size > 1000
    assert str(path) in window.statusBar().currentMessage()
    assert window.recording.notice.isVisible() and str(path) in window.recording.notice.label.text()
    window.recording.notice.open_btn.click()
    assert [u.toLocalFile() for u in opened] == [str(tmp_path / "snapshots")]
    assert window.recording.folder_labels["snapshots"].text() == str(tmp_path / "snapshots")


def test_a_snapshot_never_overwrites_a_file(window, qtbot, tmp_path, monkeypatch):
    import lookout_ui.recording_controls as mw
    monkeypatch.setattr(mw.time, "strftime", lambda fmt: "20260101_120000")  # the same second, twice
    next_results(qtbot, window)
    window.act_pause.trigger()  # the same frame, twice: the same name but for the suffix
    qtbot.wait(300)
    first, second = window.recording.snapshot(), window.recording.snapshot()
    assert first != second and first.exists() and second.exists()
    assert second.name == first.stem + "-1.png"
    old = tmp_path / "snapshots" / (first.stem + "-2.png")
    old.write_bytes(b"someone else's file")
    third = window.recording.snapshot()
    assert third.name == first.stem + "-3.png" and old.read_bytes() == b"someone else's file"


def test_recordings_never_overwrite_and_show_the_path(window, qtbot, tmp_path, monkeypatch):
    import lookout_ui.recording_controls as mw
    monkeypatch.setattr(mw.time, "strftime", lambda fmt: "20260101_120000")
    taken = tmp_path / "recordings" / "lookout_20260101_120000.mp4"
    taken.parent.mkdir()
    taken.write_bytes(b"an older recording")
    window.recording.toggle_record()
    assert window.session.recording and window.act_record.isChecked()
    fresh = tmp_path / "recordings" / "lookout_20260101_120000-1.mp4"
    assert str(fresh) in window.recording.notice.label.text() and str(fresh) in window.statusBar().currentMessage()
    next_results(qtbot, window, 20)
    window.recording.toggle_record()
    qtbot.waitUntil(fresh.exists, timeout=30000)
    assert taken.read_bytes() == b"an older recording" and fresh.stat().st_size > 1000


def test_a_changed_folder_is_remembered_and_the_command_line_wins_for_its_run(window, qtbot, tmp_path,
                                                                             monkeypatch):
    import lookout_ui.recording_controls as mw
    from lookout_ui.output_folders import OutputFolders, default_folder
    chosen = tmp_path / "elsewhere"
    chosen.mkdir()
    monkeypatch.setattr(mw.QFileDialog, "getExistingDirectory", staticmethod(lambda *a, **k: str(chosen)))
    window.recording.choose_folder("snapshots")
    assert window.recording.folder_labels["snapshots"].text() == str(chosen)
    next_results(qtbot, window)
    assert window.recording.snapshot().parent == chosen
    window.settings.sync()
    from PyQt6.QtCore import QSettings
    later = QSettings(window.settings.fileName(), QSettings.Format.IniFormat)  # the next run
    assert OutputFolders(later).folder("snapshots") == chosen
    assert OutputFolders(later, snapshots=str(tmp_path / "cli")).folder("snapshots") == tmp_path / "cli"
    assert OutputFolders(later).folder("recordings") == default_folder("recordings")
    assert default_folder("snapshots").name == "Lookout" and default_folder("recordings").name == "Lookout"


def test_the_command_line_takes_the_folders():
    from detector.cli.run_cmd import build_parser, config_from
    config = config_from(build_parser().parse_args(["--snapshot-dir", "shots", "--record-dir", "clips"]), guard=False)
    assert (config.snapshot_dir, config.record_dir) == ("shots", "clips")
    config = config_from(build_parser().parse_args([]), guard=False)
    assert (config.snapshot_dir, config.record_dir) == (None, None)
