"""The window with --events (issue #25, the window's part): each stream feeds the process's event hub
like the headless run, so the folder gets events.jsonl, the index, clips and snapshots; the side
panel lists the last events with their thumbnails; a double-click plays a finished event's clip. The
real window on the demo clip, offscreen."""
from __future__ import annotations

import json
import os
import sqlite3

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from lookout_ui.event_list import MAX_EVENTS, ROLE, EventList  # noqa: E402
from window_helpers import DEMO_CLIP, no_thread_left, open_grid, open_window  # noqa: E402


def _rows(win) -> list:
    lst = win.event_list
    return [lst.item(i) for i in range(lst.count())]


def test_window_writes_events_and_lists_them(qtbot, tmp_path, monkeypatch):
    from PyQt6.QtGui import QDesktopServices
    opened = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    folder = tmp_path / "events"
    with no_thread_left():
        # played once: people are in every frame, so their shared clip closes when the file ends (its
        # events end with it, as at the end of a headless run)
        win = open_window(qtbot, tmp_path, str(DEMO_CLIP), events=str(folder), loop=False, pre_roll=1.0,
                          post_roll=1.0)
        assert win.sections["Events"].isVisible() and win.event_list.count() == 0
        assert not win.counters.track_box.isEnabled()  # events are confirmed tracks: tracking stays on
        qtbot.waitUntil(lambda: win.event_list.count() >= 1, timeout=60000)
        text = win.event_list.item(0).text()
        assert " demo_vtest " in text and text.endswith("person"), text  # time, stream, label
        assert text[:8].count(":") == 2  # HH:MM:SS
        # an event still open says so instead of playing
        still_open = [it for it in _rows(win) if not it.data(ROLE).get("end_time")]
        assert still_open
        win.event_list.itemDoubleClicked.emit(still_open[0])
        assert "still open" in win.statusBar().currentMessage() and not opened

        def finished():  # an event that ended, its thumbnail on its row and its clip on disk
            for item in _rows(win):
                rec = item.data(ROLE)
                if rec.get("end_time") and not item.icon().isNull() and (folder / rec["clip"]).exists():
                    return item
            return None
        qtbot.waitUntil(lambda: finished() is not None, timeout=90000)
        item = finished()
        record = item.data(ROLE)
        assert (folder / record["snapshot"]).exists()
        win.event_list.itemDoubleClicked.emit(item)
        assert [u.toLocalFile() for u in opened] == [str((folder / record["clip"]).resolve())]
        # newest first (by when each object was first seen)
        starts = [it.data(ROLE)["start_time"] for it in _rows(win)]
        assert starts == sorted(starts, reverse=True)
        win.close()
    # the hub closed: the log and index are complete, and every clip the list pointed to is there
    assert (folder / "events.db").exists()
    lines = [json.loads(x) for x in (folder / "events.jsonl").read_text().splitlines() if x.strip()]
    assert [x["event"] for x in lines if x["id"] == record["id"]] == ["start", "end"]
    with sqlite3.connect(folder / "events.db") as db:
        assert db.execute("SELECT clip FROM events WHERE id = ?", (record["id"],)).fetchone() == (record["clip"],)
    assert all((folder / it.data(ROLE)["clip"]).exists() for it in _rows(win) if it.data(ROLE).get("clip"))


def test_no_events_section_without_events(qtbot, tmp_path):
    with no_thread_left():
        win = open_window(qtbot, tmp_path, str(DEMO_CLIP), frames=1)
        assert "Events" not in win.sections and win.event_list is None
        win.close()


def test_events_section_fits_a_laptop(qtbot, tmp_path):
    """At a 1366 x 768 laptop's maximised size the panel, with the Events section, overlaps nothing
    and scrolls to the list."""
    from test_window_layout import _overlaps
    with no_thread_left():
        win = open_window(qtbot, tmp_path, str(DEMO_CLIP), events=str(tmp_path / "events"))
        win.resize(1366, 740)
        qtbot.waitUntil(lambda: win.height() == 740, timeout=5000)
        qtbot.waitUntil(lambda: win.event_list.count() >= 1, timeout=60000)
        overlapping, squeezed = _overlaps(win)
        assert not overlapping and not squeezed, (overlapping, squeezed)
        scroll = win.panel_scroll
        scroll.ensureWidgetVisible(win.event_list)
        qtbot.wait(50)
        top_left = win.event_list.mapTo(scroll.viewport(), win.event_list.rect().topLeft())
        assert scroll.viewport().rect().contains(top_left)
        win.close()


def test_a_stream_added_later_tracks_for_its_events(qtbot, tmp_path):
    from detector import Detector
    from detector.engine.live_events import LiveEvents
    from detector.engine.models import Models
    from detector.engine.run import RunConfig
    from detector.engine.live_session import LiveSession
    events = LiveEvents(RunConfig(source=None, events=str(tmp_path / "events"), track=True))
    session = LiveSession(Models(Detector.load("ssdlite-mobilenetv2-person", device="cpu")), events=events)
    stream = session.add_source(str(DEMO_CLIP))
    assert stream.models.analytics is not None
    session.stop()


def test_an_events_folder_that_is_an_input_is_refused_before_the_window(qtbot, tmp_path):
    from detector.util.write_guard import WriteRefused
    with pytest.raises(WriteRefused, match="--events"):
        open_window(qtbot, tmp_path, str(DEMO_CLIP), events=str(DEMO_CLIP.parent))


def test_the_list_keeps_the_newest_events_and_says_what_is_open(qtbot, tmp_path):
    said = []
    lst = EventList(str(tmp_path), said.append)
    qtbot.addWidget(lst)
    for n in range(MAX_EVENTS + 10):  # from another thread in the window: hear() only queues
        lst.hear("start", {"id": f"e{n}", "stream": "door", "kind": "line" if n % 2 else "object", "label": "car",
                           "start_time": f"2026-01-01T10:00:{n % 60:02d}.{n:03d}Z", "end_time": None,
                           "clip": None, "snapshot": None})
    assert lst.count() == 0
    lst.pull()
    assert lst.count() == MAX_EVENTS
    assert lst.item(0).data(ROLE)["id"] == f"e{MAX_EVENTS + 9}" and lst.item(0).text().endswith("door  car (line)")
    lst.itemDoubleClicked.emit(lst.item(0))
    assert "still open" in said[-1]
    lst.close_loader()


def test_two_streams_one_hub_both_in_the_list(qtbot, tmp_path):
    folder = tmp_path / "events"
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, [("door", str(DEMO_CLIP)), ("yard", str(DEMO_CLIP))], events=str(folder))
        qtbot.waitUntil(lambda: {it.data(ROLE)["stream"] for it in _rows(win)} == {"door", "yard"}, timeout=60000)
        assert list(win.session.events.hubs) == [str(folder)]  # one hub for the folder, shared
        win.close()
    streams = {json.loads(x)["stream"] for x in (folder / "events.jsonl").read_text().splitlines()}
    assert streams == {"door", "yard"}
