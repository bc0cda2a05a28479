"""The engine's rates over a window of real time (detector/engine/stats.py), at given clock times."""
from __future__ import annotations

import pytest

from detector.engine.stats import RateMeter, Stats


def test_rate_over_real_time_drops_to_zero_when_events_stop_and_restarts():
    m = RateMeter(window_s=2.0)
    for i in range(31):  # 10 a second for 3 s
        m.tick(now=i / 10)
    assert m.rate(now=3.0) == pytest.approx(10.0, rel=0.06)
    assert m.rate(now=4.0) == pytest.approx(5.0, rel=0.1)  # half the window is silent
    assert m.rate(now=5.5) == 0.0                           # nothing for longer than the window
    m.restart()
    for i in range(6):  # 10 a second again, for half a second
        m.tick(now=10.0 + i / 10)
    assert m.rate(now=10.55) == pytest.approx(10.0, rel=0.15)
    m.restart()
    m.tick(now=20.0)
    assert m.rate(now=20.05) == 0.0  # one event: no interval yet


def test_stats_read_zero_while_paused_and_measure_afresh_after():
    s = Stats()
    for _ in range(5):
        s.count("inferred")
    s.set_paused(True)
    assert s.paused and s.rate("inferred") == 0.0
    assert s.get("inferred") == 5  # the totals go on
    s.set_paused(False)
    assert s.rate("inferred") == 0.0  # no interval measured since the resume


def test_a_new_source_measures_its_own_rates():
    s = Stats()
    for _ in range(5):
        s.count("captured")
    assert s.rate("captured") > 0
    s.restart_rates()  # what Session.open does for each source
    assert s.rate("captured") == 0.0 and s.get("captured") == 5
