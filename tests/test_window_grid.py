"""Several streams in one window (issue #24): a grid of tiles over one live session, each tile its own
stream's newest result; double-click focuses one in the big view and back; a tile closes its stream;
Ctrl+O adds one; a stream that fails says so in its tile while the others go on. The real window on
the demo clip (and clips made from it), offscreen."""
from __future__ import annotations

import os
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import (DEMO_CLIP, grab_pixels, next_results, no_thread_left, open_grid,  # noqa: E402
                            tile_results)

FOUR = [(name, str(DEMO_CLIP)) for name in ("north", "south", "east", "west")]


@pytest.fixture()
def four(qtbot, tmp_path):
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, FOUR)
        yield win
        win.close()


def _captures() -> int:
    return sum(t.name == "lookout-capture" and t.is_alive() for t in threading.enumerate())


def test_grid_shape_fits_the_area():
    from lookout_ui.stream_grid import grid_shape
    wide = (1000, 560)  # the video area of a 1366x768 window, about
    assert [grid_shape(n, *wide) for n in (1, 2, 3, 4, 6, 9)] == [(1, 1), (2, 1), (2, 2), (2, 2), (3, 2), (3, 3)]
    assert grid_shape(2, 400, 900) == (1, 2)  # a tall area stacks them
    assert grid_shape(0, *wide) == (0, 0)


def test_four_streams_four_tiles_with_names_boxes_and_state(four, qtbot):
    from detector.ops.draw import class_color
    win = four
    assert win.stage.currentWidget() is win.streams.grid
    tiles = win.streams.grid.tiles
    assert [t.stream.name for t in tiles] == ["north", "south", "east", "west"]
    results = tile_results(qtbot, win, 2)
    # 2 x 2, side by side, none over another, each frame at its own aspect ratio inside its tile
    rects = [t.geometry() for t in tiles]
    assert len({r.x() for r in rects}) == 2 and len({r.y() for r in rects}) == 2
    assert not any(a.intersects(b) for i, a in enumerate(rects) for b in rects[i + 1:])
    for t in tiles:
        assert t.isVisible() and win.streams.grid.rect().contains(t.geometry())
        r = t.frame_rect()
        assert abs(r.width() / r.height() - 768 / 576) < 0.01
    for t in tiles:
        assert "fps" in t.caption and t.caption.endswith("live"), t.caption
        assert len(results[t.stream.name].detections) >= 1  # people walk through the whole clip
    # the boxes are painted where the detector put them: each box's left edge in the class colour
    b, g, r = class_color(1)
    for t in tiles:
        t.repaint()
        px = grab_pixels(t)
        boxes = t.widget_boxes()
        hits = sum(bool((np.abs(px[int((y1 + y2) / 2), max(0, int(x1) - 2): int(x1) + 3].astype(int) - [r, g, b])
                         .sum(axis=1) < 60).any()) for x1, y1, x2, y2 in boxes if y1 > 24)  # not under the caption
        assert hits >= 1 and hits >= 0.75 * len([bx for bx in boxes if bx[1] > 24]), (t.stream.name, hits, len(boxes))


def test_each_tile_shows_its_own_stream(qtbot, tmp_path):
    """Four different sources: the clip, a half-size copy, a folder of stills, the clip again; each
    tile's frames come from its own source, through its own engine, tracker and stats."""
    import cv2

    from conftest import read_all_frames
    frames = read_all_frames(DEMO_CLIP)[:40]
    half = tmp_path / "half.mp4"
    out = cv2.VideoWriter(str(half), cv2.VideoWriter_fourcc(*"mp4v"), 10, (384, 288))
    for f in frames:
        out.write(cv2.resize(f, (384, 288)))
    out.release()
    stills = tmp_path / "stills"
    stills.mkdir()
    for i, f in enumerate(frames[::8]):
        cv2.imwrite(str(stills / f"{i:03d}.jpg"), f[:480, :640])
    sources = [("clip", str(DEMO_CLIP)), ("half", str(half)), ("stills", str(stills)), ("again", str(DEMO_CLIP))]
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, sources, track=True)
        try:
            results = tile_results(qtbot, win, 2)
            shapes = {name: r.frame.image.shape[:2] for name, r in results.items()}
            assert shapes == {"clip": (576, 768), "half": (288, 384), "stills": (480, 640), "again": (576, 768)}
            assert all(r.frame.stream == name for name, r in results.items())
            assert results["half"].frame.source != results["clip"].frame.source
            streams = win.session.streams()
            assert len({id(s.models) for s in streams}) == 4 and len({id(s.engine) for s in streams}) == 4
            assert len({id(s.models.analytics) for s in streams}) == 4  # a tracker each
            assert len({id(s.models.detector) for s in streams}) == 1   # one detector for all
            assert all(s.stats.get("inferred") > 0 for s in streams)
        finally:
            win.close()


def test_double_click_focuses_a_tile_and_back(four, qtbot):
    from PyQt6.QtCore import Qt
    win = four
    south = win.streams.grid.tiles[1]
    qtbot.mouseDClick(south, Qt.MouseButton.LeftButton, pos=south.rect().center())
    assert win.stage.currentWidget() is win.view and win.session.focus is south.stream
    result = next_results(qtbot, win, 2)
    assert result.frame.stream == "south"
    assert win.view.stats_lines[-1].startswith("south | ")
    # the controls act on it: its class filter, not the others'
    win.model_panel.classes.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert south.stream.models.snapshot().classes == frozenset()
    assert all(t.stream.models.snapshot().classes is None for t in win.streams.grid.tiles if t is not south)
    win.model_panel.classes.item(0).setCheckState(Qt.CheckState.Checked)
    # and its confidence: the shared detector stays at the lowest, the others keep theirs
    win.model_panel.conf.setValue(80)
    assert south.stream.engine.min_score == pytest.approx(0.8) and win.models.detector.score_threshold == 0.3
    next_results(qtbot, win)
    assert all((next_results(qtbot, win).detections.scores >= 0.8).all() for _ in range(3))
    lows = [tile_results(qtbot, win)["north"] for _ in range(3)]
    assert any((r.detections.scores < 0.8).any() for r in lows)
    qtbot.mouseDClick(win.view, Qt.MouseButton.LeftButton, pos=win.view.rect().center())
    assert win.stage.currentWidget() is win.streams.grid
    east = win.streams.grid.tiles[2]
    qtbot.mouseDClick(east, Qt.MouseButton.LeftButton, pos=east.rect().center())
    assert win.stage.currentWidget() is win.view and win.session.focus is east.stream
    assert win.model_panel.conf.value() == 30  # the panel shows the selected stream's own settings
    qtbot.keyClick(win.view, Qt.Key.Key_Escape)
    assert win.stage.currentWidget() is win.streams.grid and win.session.focus is east.stream
    assert east.selected and not south.selected


def test_pause_and_step_act_on_the_selected_stream(four, qtbot):
    from PyQt6.QtCore import Qt
    win = four
    north, south = win.streams.grid.tiles[0], win.streams.grid.tiles[1]
    qtbot.mouseClick(north, Qt.MouseButton.LeftButton, pos=north.rect().center())
    assert win.session.focus is north.stream and north.selected
    qtbot.keyClick(win.streams.grid, Qt.Key.Key_Space)
    assert north.stream.paused and not south.stream.paused
    qtbot.wait(300)
    seq, other = north.stream.latest()[1], south.seq
    qtbot.waitUntil(lambda: south.seq > other + 3, timeout=10000)  # the others play on
    assert north.stream.latest()[1] == seq  # nothing new while paused
    qtbot.keyClick(win.streams.grid, Qt.Key.Key_Right)  # one step
    qtbot.waitUntil(lambda: north.stream.latest()[1] == seq + 1, timeout=10000)
    qtbot.wait(600)
    assert north.stream.latest()[1] == seq + 1
    qtbot.keyClick(win.streams.grid, Qt.Key.Key_Space)
    assert not north.stream.paused
    qtbot.waitUntil(lambda: north.seq > seq + 3, timeout=10000)


def test_closing_a_tile_stops_its_stream(four, qtbot):
    win = four
    assert _captures() == 4
    west = win.streams.grid.tiles[3]
    stream = west.stream
    # the GUI thread only asks; the engine thread stops and joins the capture (a click that joined it
    # itself would freeze the window for as long as the source takes to let go)
    stopped_on, real_stop = [], stream.capture.stop

    def recorded_stop(*args, **kwargs):
        stopped_on.append(threading.current_thread())
        real_stop(*args, **kwargs)

    stream.capture.stop = recorded_stop
    west.close_btn.click()
    assert [t.stream.name for t in win.streams.grid.tiles] == ["north", "south", "east"]
    assert stream not in win.session.streams()
    qtbot.waitUntil(lambda: _captures() == 3 and stream.capture is None, timeout=5000)  # joined by the engine
    assert stopped_on and threading.main_thread() not in stopped_on
    tile_results(qtbot, win, 2)  # the others go on
    for tile in list(win.streams.grid.tiles[1:]):
        tile.close_btn.click()
    qtbot.waitUntil(lambda: _captures() == 1, timeout=5000)
    # one left: the old single-stream window, no grid
    assert win.stage.currentWidget() is win.view and len(win.streams.grid.tiles) == 1
    next_results(qtbot, win, 2)


def test_ctrl_o_adds_a_tile(four, qtbot, monkeypatch):
    import lookout_ui.stream_controls as mw
    from PyQt6.QtGui import QKeySequence
    win = four
    monkeypatch.setattr(mw.QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(DEMO_CLIP), "")))
    action = next(a for a in win.actions() if a.shortcut() == QKeySequence("Ctrl+O"))
    action.trigger()
    assert [t.stream.name for t in win.streams.grid.tiles] == ["north", "south", "east", "west", "demo_vtest"]
    added = win.streams.grid.tiles[4]
    assert win.session.focus is added.stream and added.selected
    qtbot.waitUntil(lambda: added.seq >= 2, timeout=30000)
    assert added.result.frame.stream == "demo_vtest" and _captures() == 5
    cols = len({t.geometry().x() for t in win.streams.grid.tiles})
    assert cols == 3  # five tiles: 3 x 2 in a wide area
    action.trigger()
    assert win.streams.grid.tiles[5].stream.name == "demo_vtest-2"


def test_a_failing_stream_shows_its_state_while_the_others_go_on(qtbot, tmp_path, monkeypatch, capfd):
    """A camera that plays, loses its cable and does not come back; a camera that is not there; two
    clips that keep playing."""
    from detector.io import camera
    from test_camera import Device, StandInCamera
    dev = Device()
    real_open = camera.open_camera
    monkeypatch.setattr(camera, "open_camera", lambda index: StandInCamera(dev) if index == 0 else real_open(index))
    sources = [("a", str(DEMO_CLIP)), ("cam", "0"), ("nocam", "9"), ("b", str(DEMO_CLIP))]
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, sources, frames=0, reconnect_attempts=1)
        try:
            qtbot.waitUntil(lambda: len(win.streams.grid.tiles) == 4, timeout=5000)
            tiles = {t.stream.name: t for t in win.streams.grid.tiles}
            qtbot.waitUntil(lambda: tiles["nocam"].caption.startswith("failed: no camera at index 9"), timeout=20000)
            qtbot.waitUntil(lambda: tiles["cam"].seq >= 3 and tiles["a"].seq >= 2, timeout=30000)
            assert tiles["cam"].caption.endswith("live")
            dev.disconnect_after = dev.delivered + 3  # the cable pulled, for good
            qtbot.waitUntil(lambda: tiles["cam"].caption.endswith("reconnecting"), timeout=10000)
            qtbot.waitUntil(lambda: tiles["cam"].caption.startswith("failed: source lost: lost camera 0"),
                            timeout=20000)
            seen = {n: t.seq for n, t in tiles.items()}
            qtbot.waitUntil(lambda: tiles["a"].seq > seen["a"] + 2 and tiles["b"].seq > seen["b"] + 2,
                            timeout=20000)  # the clips go on
            assert tiles["cam"].seq == seen["cam"] and tiles["cam"].result is not None  # its last frame stays
            assert win.stage.currentWidget() is win.streams.grid  # no start view for one stream of several
            err = capfd.readouterr().err.splitlines()
            assert any(l.startswith("lookout: nocam: no camera at index 9") for l in err)
            assert any(l.startswith("lookout: cam: source lost: lost camera 0") for l in err)
        finally:
            win.close()


def test_a_source_slow_to_open_holds_up_no_other(qtbot, tmp_path, monkeypatch):
    """Sources open on their capture threads, not on the engine thread: while one takes its time (a
    camera on the far side of a slow link) the others play, and its tile says it is opening."""
    import detector.engine.capture as capture
    from detector.io.sources import SourceError
    real_open = capture.open_source

    def slow_open(spec, options):
        if spec == "rtsp://far.example/stream":
            time.sleep(1.5)
            raise SourceError("could not open rtsp://far.example/stream (timed out)")
        return real_open(spec, options)

    monkeypatch.setattr(capture, "open_source", slow_open)
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, [("near", str(DEMO_CLIP)), ("far", "rtsp://far.example/stream")], frames=0)
        try:
            qtbot.waitUntil(lambda: len(win.streams.grid.tiles) == 2, timeout=5000)
            near, far = win.streams.grid.tiles
            qtbot.waitUntil(lambda: near.seq >= 3, timeout=20000)
            assert far.caption == "opening rtsp://far.example/stream…" and far.seq == 0
            qtbot.waitUntil(lambda: far.caption.startswith("failed: could not open"), timeout=10000)
            seq = near.seq
            qtbot.waitUntil(lambda: near.seq > seq + 2, timeout=10000)
        finally:
            win.close()


def test_at_the_minimum_size_four_tiles_fit(four, qtbot):
    win = four
    minimum = win.minimumSize().expandedTo(win.minimumSizeHint())
    assert minimum.width() <= 1024 and minimum.height() <= 640
    win.resize(minimum)
    qtbot.waitUntil(lambda: win.size() == minimum, timeout=5000)
    tile_results(qtbot, win)
    for t in win.streams.grid.tiles:
        assert win.streams.grid.rect().contains(t.geometry()) and t.width() >= 200 and t.height() >= 150


def test_the_command_line_opens_the_window_on_every_stream(monkeypatch):
    from detector.cli.run_cmd import run_main
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    opened = []
    rc = run_main(["--source", f"a={DEMO_CLIP}", "--source", f"b={DEMO_CLIP}"],
                  open_window=lambda configs: opened.append(configs) or 0)
    assert rc == 0 and [[c.stream for c in cs] for cs in opened] == [["a", "b"]]
    assert all(c.source == str(DEMO_CLIP) for c in opened[0])


def test_motion_gating_and_weights_reach_the_window_streams(qtbot, tmp_path):
    """--motion and a stream's weight from its RunConfig: still frames of one stream carry its last
    boxes instead of going to the detector, and the tile still shows them."""
    import cv2

    from conftest import read_all_frames
    still = read_all_frames(DEMO_CLIP)[:1][0]
    stills = tmp_path / "stills"
    stills.mkdir()
    for i in range(6):
        cv2.imwrite(str(stills / f"{i:03d}.png"), still)
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, [("clip", str(DEMO_CLIP)), ("still", str(stills))], motion=True, weight=2.0)
        try:
            tiles = {t.stream.name: t for t in win.streams.grid.tiles}
            qtbot.waitUntil(lambda: tiles["still"].stream.stats.get("motion_skipped") >= 5, timeout=30000)
            assert all(t.stream.weight == 2.0 and t.stream.gate is not None for t in tiles.values())
            assert len(tiles["still"].result.detections) >= 1  # the carried boxes
        finally:
            win.close()


def test_a_source_opened_in_the_window_takes_the_command_lines_options(qtbot, tmp_path):
    """The window's one driver: a stream added from the window is the window's RunConfig with that
    source, so --regions (a 2 x 1 grid here) and --motion reach it as they reach the command line's
    streams, and its frames go through the same scheduler (both streams' results keep coming)."""
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, [("first", str(DEMO_CLIP))], regions="grid:2x1", motion=True)
        try:
            win.streams.add_stream(str(DEMO_CLIP))
            first, added = win.streams.grid.tiles
            assert added.stream.name == "demo_vtest" and added.stream.config.regions == "grid:2x1"
            qtbot.waitUntil(lambda: added.result is not None and bool(added.result.regions), timeout=30000)
            for tile in (first, added):
                qtbot.waitUntil(lambda: tile.result is not None and bool(tile.result.regions), timeout=30000)
                kinds = [r.kind for r in tile.result.regions]
                assert kinds.count("grid") == 2 and tile.stream.gate is not None, kinds
            seen = added.seq
            qtbot.waitUntil(lambda: added.seq >= seen + 2 and first.seq >= 4, timeout=30000)
        finally:
            win.close()


def test_a_config_file_opens_the_window_on_its_streams(monkeypatch, tmp_path):
    """``--config cameras.toml`` with [[streams]]: each table a stream of the window, its own conf."""
    from detector.cli.run_cmd import run_main
    monkeypatch.setenv("QT_QPA_PLATFORM", "offscreen")
    toml = tmp_path / "cameras.toml"
    toml.write_text(f'conf = 0.4\n[[streams]]\nname = "door"\nsource = "{DEMO_CLIP}"\n'
                    f'[[streams]]\nname = "yard"\nsource = "{DEMO_CLIP}"\nconf = 0.6\nmotion = true\n')
    opened = []
    assert run_main(["--config", str(toml)], open_window=lambda configs: opened.append(configs) or 0) == 0
    assert [(c.stream, c.conf, c.motion) for c in opened[0]] == [("door", 0.4, False), ("yard", 0.6, True)]


def test_committed_grid_screenshot_shows_four_live_tiles():
    """docs/window_grid.png and what tools/screenshot.py recorded while taking it."""
    import json

    import cv2

    from conftest import ROOT
    info = json.loads((ROOT / "docs" / "window_grid.json").read_text())
    shot = cv2.imread(str(ROOT / "docs" / "window_grid.png"))
    assert info["platform"] == "xcb" and info["showing"] == "StreamGrid" and shot is not None
    assert [t["name"] for t in info["tiles"]] == ["north", "south", "east", "west"]
    for t in info["tiles"]:
        assert t["caption"].endswith("live") and "fps" in t["caption"] and len(t["boxes"]) >= 3
    # the four tiles side by side in a 2 x 2 grid, inside the picture
    xs, ys = sorted({t["rect"][0] for t in info["tiles"]}), sorted({t["rect"][1] for t in info["tiles"]})
    assert len(xs) == 2 and len(ys) == 2
    scale = shot.shape[1] / info["grabbed"][0]
    assert all(t["rect"][2] * scale <= shot.shape[1] + 1 and t["rect"][3] * scale <= shot.shape[0] + 1
               for t in info["tiles"])

