"""Renaming a line or zone is a label change: its counts stay (issue #28); Reset counts is its own button."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import DEMO_CLIP, next_results, no_thread_left, open_window, window  # noqa: E402,F401 (window: the fixture)


def _zone_counts(win, name):
    return win.view.result.analytics.counts["zones"].get(name)


def _entered_more_than_inside(win, name):
    c = _zone_counts(win, name) or {}
    return sum(c.get("entered", {}).values()) > sum(c.get("inside", {}).values()) + 1


def test_rename_keeps_the_counts(window, qtbot, monkeypatch):
    import lookout_ui.counter_controls as mw
    from detector.analytics.counting import Line, Zone
    window.counters.track_box.setChecked(True)
    # the whole frame as a zone (fractions): every tracked person enters it
    window.counters.set_counters([Zone("all", ((0, 0), (1, 0), (1, 1), (0, 1))), Line("mid", (0.5, 0), (0.5, 1))])
    # until more have entered than are inside now: counts that a reset would lose
    qtbot.waitUntil(lambda: window.view.result.analytics is not None and _entered_more_than_inside(window, "all"),
                    timeout=30000)
    before = _zone_counts(window, "all")["entered"]
    monkeypatch.setattr(mw.QInputDialog, "getText", staticmethod(lambda *a, **k: ("everyone", True)))
    window.counters.rename_counter(window.counters.counter_list.item(0))
    assert [window.counters.counter_list.item(i).text() for i in range(window.counters.counter_list.count())] == \
        ["everyone (zone)", "mid (line)"]
    next_results(qtbot, window, 2)
    after = _zone_counts(window, "everyone")["entered"]
    assert _zone_counts(window, "all") is None
    assert all(after.get(label, 0) >= n for label, n in before.items()), (before, after)
    assert "everyone:" in window.counters.count_label.text()
    # a name already taken is refused, and nothing changes
    monkeypatch.setattr(mw.QInputDialog, "getText", staticmethod(lambda *a, **k: ("mid", True)))
    window.counters.rename_counter(window.counters.counter_list.item(0))
    assert "another line or zone has that name" in window.statusBar().currentMessage()
    assert [c.name for c in window.models.analytics.counters] == ["everyone", "mid"]
    # resetting stays its own button: counting starts again from those inside now
    window.counters.counter_buttons["Reset counts"].click()
    next_results(qtbot, window)
    reset = _zone_counts(window, "everyone")
    assert sum(reset["entered"].values()) <= sum(reset["inside"].values()) < sum(after.values())
