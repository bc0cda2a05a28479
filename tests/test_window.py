"""The real window, driven by pytest-qt on the offscreen platform, on the demo clip."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time

import numpy as np
import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from conftest import DEMO_CLIP, ROOT  # noqa: E402
from detector import Detector  # noqa: E402
from detector.engine.models import Models  # noqa: E402
from detector.engine.run import RunConfig  # noqa: E402
from window_helpers import no_thread_left  # noqa: E402


def _open_window(qtbot, tmp_path, model: str):
    """The real window on the demo clip with ``model``, shown and past its first results."""
    from lookout_ui.app import build_window
    # the whole frame: boxes are compared with the detector's on the frame alone (the window with
    # regions, the clip's default: test_window_regions)
    config = RunConfig(source=str(DEMO_CLIP), loop=True, regions="off")
    models = Models(Detector.load(model, device="cpu"))
    from PyQt6.QtCore import QSettings
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)  # not the user's
    win, session = build_window(config, models, snapshot_dir=str(tmp_path), record_dir=str(tmp_path),
                                settings=settings)
    qtbot.addWidget(win)
    session.start()
    win.show()
    qtbot.waitUntil(lambda: win.shown_seq >= 2, timeout=20000)
    return win


@pytest.fixture()
def window(qtbot, tmp_path):
    with no_thread_left():
        win = _open_window(qtbot, tmp_path, "ssdlite-mobilenetv2-person")
        yield win
        win.close()


def _next_result(qtbot, win):
    seq = win.shown_seq
    qtbot.waitUntil(lambda: win.shown_seq > seq + 1, timeout=20000)
    return win.view.result


def _pixels(win) -> np.ndarray:
    img = win.view.grab().toImage().convertToFormat(win.view.grab().toImage().Format.Format_RGB888)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    return np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())[:, : img.width() * 3] \
        .reshape(img.height(), img.width(), 3).copy()


def test_boxes_drawn_where_the_detector_put_them(window, qtbot):
    result = _next_result(qtbot, window)
    ref = Detector.load("ssdlite-mobilenetv2-person", device="cpu").detect(result.frame.image)
    np.testing.assert_allclose(result.detections.xyxy, ref.xyxy, atol=0.01)
    assert len(ref) >= 1
    window.view.repaint()
    px = _pixels(window)
    boxes = window.view.widget_boxes()
    from detector.ops.draw import class_color
    b, g, r = class_color(1)
    hits = 0
    for x1, y1, x2, y2 in boxes:
        # the left edge of each box, mid-height, is painted in the class colour
        ys = int((y1 + y2) / 2)
        strip = px[ys, max(0, int(x1) - 2): int(x1) + 3].astype(int)
        hits += bool((np.abs(strip - [r, g, b]).sum(axis=1) < 60).any())
    assert hits == len(boxes)
    assert any("inference" in l and "fps" in l for l in window.view.stats_lines)


def test_confidence_slider_changes_what_is_drawn(window, qtbot):
    lows = [_next_result(qtbot, window) for _ in range(3)]
    assert all((low.detections.scores >= 0.3).all() for low in lows)
    assert any((low.detections.scores < 0.8).any() for low in lows)
    window.model_panel.conf.setValue(80)
    assert window.models.detector.score_threshold == pytest.approx(0.8)
    high = _next_result(qtbot, window)
    assert (high.detections.scores >= 0.8).all()
    assert len(window.view.widget_boxes()) == len(high.detections)


@pytest.mark.slow
def test_class_filter_pause_and_step(window, qtbot):
    from PyQt6.QtCore import Qt
    window.model_panel.classes.item(0).setCheckState(Qt.CheckState.Unchecked)
    assert len(_next_result(qtbot, window).detections) == 0
    window.model_panel.classes.item(0).setCheckState(Qt.CheckState.Checked)
    assert len(_next_result(qtbot, window).detections) > 0
    window.act_pause.trigger()
    assert window.session.paused
    qtbot.wait(600)
    seq = window.session.latest()[1]
    idx = window.session.latest()[0].frame.index
    qtbot.wait(1200)
    assert window.session.latest()[1] == seq  # nothing new while paused
    window.step()
    qtbot.waitUntil(lambda: window.session.latest()[1] == seq + 1, timeout=10000)
    assert window.session.latest()[0].frame.index > idx
    qtbot.wait(800)
    assert window.session.latest()[1] == seq + 1  # exactly one frame per step
    window.act_pause.trigger()
    assert not window.session.paused
    _next_result(qtbot, window)


def test_snapshot_saves_the_annotated_frame(window, qtbot, tmp_path):
    import cv2
    _next_result(qtbot, window)
    path = window.recording.snapshot()
    img = cv2.imread(str(path))
    assert img.shape == (576, 768, 3)
    raw = window.view.result.frame.image
    assert np.abs(img.astype(int) - raw.astype(int)).max() > 100  # boxes drawn on a copy
    assert np.abs(window.view.result.frame.image.astype(int) - raw.astype(int)).max() == 0


@pytest.mark.slow
def test_screenshot_of_the_real_window_under_xvfb(tmp_path):
    if not shutil.which("Xvfb"):
        pytest.skip("needs Xvfb (apt-get install xvfb; .ci/run installs it)")
    out = tmp_path / "shot.png"
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_QPA_PLATFORM")}
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "screenshot.py"), str(out), "--seconds", "3"],
                       capture_output=True, text=True, timeout=180, env=env)
    assert p.returncode == 0, p.stderr[-2000:]
    info = json.loads(out.with_suffix(".json").read_text())
    assert info["platform"] == "xcb"
    import cv2
    shot = cv2.imread(str(out))
    check_screenshot(shot, info)


def test_committed_screenshot_shows_boxes_and_stats():
    import cv2
    shot = cv2.imread(str(ROOT / "docs" / "screenshot.png"))
    info = json.loads((ROOT / "docs" / "screenshot.json").read_text())
    check_screenshot(shot, info)


def check_screenshot(shot, info):
    from detector.ops.draw import class_color
    assert shot is not None and shot.shape[0] > 400 and shot.shape[1] > 800
    assert len(info["boxes"]) >= 3
    class_ids = info.get("class_ids", [1] * len(info["boxes"]))
    sx1, sy1, sx2, sy2 = info.get("stats_rect") or (0, 0, -1, -1)
    checked, drawn = 0, 0
    for (x1, y1, x2, y2), class_id in zip(info["boxes"], class_ids):
        color = np.array(class_color(class_id))  # BGR, as OpenCV reads the PNG
        ys = int((y1 + y2) / 2)
        if sx1 - 3 <= x1 <= sx2 + 3 and sy1 <= ys <= sy2:
            continue  # under the stats overlay's dark panel
        strip = shot[ys, max(0, int(x1) - 2): int(x1) + 3].astype(int)
        checked += 1
        drawn += int((np.abs(strip - color).sum(axis=1) < 60).any())
    # a small box can lie under a neighbour's caption (a far person under "#12 person 0.79"), so not every
    # box's edge shows; nearly all must
    assert checked >= 3 and drawn >= 0.8 * checked, (drawn, checked)
    assert any("fps" in l for l in info["stats"]) and any("detect p50" in l for l in info["stats"])
    # the stats overlay: a dark panel with light text in the video's top-left corner
    ox, oy = info["stats_origin"]
    panel = shot[oy + 10: oy + 60, ox + 10: ox + 300].astype(int)
    assert (panel.sum(axis=2) < 200).mean() > 0.5 and (panel.min(axis=2) > 180).mean() > 0.02


def test_record_toggle_writes_the_shown_frames(window, qtbot, tmp_path):
    import cv2
    window.recording.toggle_record()
    assert window.session.recording
    seq = window.shown_seq
    qtbot.waitUntil(lambda: window.shown_seq >= seq + 20, timeout=30000)
    window.recording.toggle_record()
    assert not window.session.recording
    qtbot.waitUntil(lambda: bool(list(tmp_path.glob("lookout_*.mp4"))), timeout=30000)  # finished off the GUI thread
    videos = list(tmp_path.glob("lookout_*.mp4"))
    assert len(videos) == 1
    cap = cv2.VideoCapture(str(videos[0]))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n >= 20
    assert 1.0 < cap.get(cv2.CAP_PROP_FPS) < 30.0  # the measured rate of what was shown


def test_switching_the_detector_at_run_time(window, qtbot):
    """Load a model off the GUI thread and swap it in between frames; the source keeps playing."""
    before = window.models.detector
    window.session.load("person", lambda: Detector.load("ssdlite-mobilenetv2-person", device="cpu", mode="eager"),
                               window.models.swap_detector)
    qtbot.waitUntil(lambda: window.models.detector is not before, timeout=120000)  # torch loads: slow when busy
    assert window.models.detector.mode == "eager"
    assert window.models.detector.score_threshold == before.score_threshold
    result = _next_result(qtbot, window)
    assert result is not None and window.model_panel.classes.count() == 1


def test_coco_class_filter_search_all_none(qtbot, tmp_path):
    """The default COCO model in the window: 80 named classes listed (no unused ids), the search box
    narrows the list, None hides every box, one class shows only that class, All shows everything."""
    from PyQt6.QtCore import Qt
    win = _open_window(qtbot, tmp_path, "ssd-mobilenetv2-coco")
    try:
        assert win.model_panel.classes.count() == 80 and win.model_panel.model_box.currentText() == "ssd-mobilenetv2-coco"
        win.model_panel.class_search.setText("ca")  # a substring, any case
        shown = [win.model_panel.classes.item(i).text() for i in range(win.model_panel.classes.count()) if not win.model_panel.classes.item(i).isHidden()]
        assert shown == ["car", "cat", "suitcase", "carrot", "cake"]
        win.model_panel.class_none.click()
        assert len(_next_result(qtbot, win).detections) == 0
        car = win.model_panel.classes.findItems("car", Qt.MatchFlag.MatchExactly)[0]
        car.setCheckState(Qt.CheckState.Checked)
        labels = set(_next_result(qtbot, win).detections.labels)
        assert labels == {"car"}
        win.model_panel.class_all.click()
        labels = set(_next_result(qtbot, win).detections.labels)
        assert {"car", "person"} <= labels
    finally:
        win.close()


def test_draw_a_line_and_a_zone_with_the_mouse_then_save_and_load(window, qtbot, tmp_path):
    """Tracking on from the panel; a line dragged and a zone clicked on the video become counters
    (in frame pixels), results carry track IDs and counts, the counters file round-trips."""
    from PyQt6.QtCore import QPoint, Qt

    from detector.analytics.counting import Line, Zone, load_counters, save_counters
    window.counters.track_box.setChecked(True)
    assert window.models.analytics is not None
    view = window.view
    r = view.frame_rect()
    at = lambda fx, fy: QPoint(int(r.x() + fx * r.width()), int(r.y() + fy * r.height()))  # noqa: E731
    window.counters.draw_line_btn.click()
    qtbot.mousePress(view, Qt.MouseButton.LeftButton, pos=at(0.5, 0.2))
    qtbot.mouseMove(view, at(0.5, 0.8))
    qtbot.mouseRelease(view, Qt.MouseButton.LeftButton, pos=at(0.5, 0.8))
    window.counters.draw_zone_btn.click()
    for fx, fy in ((0.1, 0.1), (0.9, 0.1), (0.9, 0.9)):
        qtbot.mouseClick(view, Qt.MouseButton.LeftButton, pos=at(fx, fy))
    qtbot.mouseDClick(view, Qt.MouseButton.LeftButton, pos=at(0.1, 0.9))
    counters = window.models.analytics.counters
    assert [c.name for c in counters] == ["line1", "zone1"]
    line, zone = counters
    assert isinstance(line, Line) and abs(line.p1[0] - 384) < 4 and abs(line.p2[1] - 0.8 * 576) < 4
    assert isinstance(zone, Zone) and len(zone.points) == 4
    assert [window.counters.counter_list.item(i).text() for i in range(window.counters.counter_list.count())] == \
        ["line1 (line)", "zone1 (zone)"]
    result = _next_result(qtbot, window)
    result = _next_result(qtbot, window)
    assert result.analytics is not None and [l.name for l in result.analytics.lines] == ["line1"]
    assert result.detections.track_ids is not None and (result.detections.track_ids > 0).any()
    assert "line1: in" in window.counters.count_label.text() and "zone1:" in window.counters.count_label.text()
    path = tmp_path / "c.json"
    save_counters(path, window.models.analytics.counters)
    window.counters.counter_list.setCurrentRow(0)
    window.counters.delete_counter()
    assert [c.name for c in window.models.analytics.counters] == ["zone1"]
    window.counters.load_counters(str(path))
    assert window.models.analytics.counters == load_counters(path)


def test_window_opens_without_importing_torch():
    """The default model starts torch-free, and the window must not import torch on its GUI thread
    (listing devices did: ~2.5 s of frozen window)."""
    code = ("import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'; "
            "from PyQt6.QtWidgets import QApplication; app = QApplication([]); "
            "from detector.engine.run import RunConfig; from lookout_ui.app import build_window; "
            "c = RunConfig(source=sys.argv[1], loop=True); w, s = build_window(c); m = w.models; "
            "print(type(m.detector).__name__, 'torch' in sys.modules, w.model_panel.device_box.count() >= 1)")
    p = subprocess.run([sys.executable, "-c", code, str(DEMO_CLIP)], capture_output=True, text=True, cwd=ROOT,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.split() == ["OnnxDetector", "False", "True"], p.stdout + p.stderr


@pytest.mark.slow
def test_the_last_model_chosen_wins_even_if_an_earlier_load_is_slower(window, qtbot):
    """Two detector choices in a row: the first load is slow, the second fast. The window must end on
    the second (loads used to be free threads: the last to finish won)."""
    first_done = threading.Event()
    chosen = []

    def slow():
        time.sleep(1.0)
        first_done.set()
        return "first"

    window.session.load("first", slow, chosen.append)
    window.session.load("second", lambda: "second", chosen.append)
    qtbot.waitUntil(lambda: chosen == ["second"] or len(chosen) > 1, timeout=5000)
    qtbot.wait(1500)
    assert chosen == ["second"]


def test_webcam_list_opens_the_chosen_camera_and_shows_reconnects_in_the_status_bar(window, qtbot, monkeypatch):
    """Ctrl+K lists the cameras as --list-cameras does; the camera here is the stand-in of test_camera."""
    import lookout_ui.stream_controls as mw
    from detector.io import camera
    from test_camera import Device, StandInCamera
    dev = Device()
    monkeypatch.setattr(camera, "open_camera", lambda index: StandInCamera(dev))
    monkeypatch.setattr(mw, "list_cameras", lambda: [camera.CameraInfo(0, "/dev/video0", "Stand-in Cam"),
                                                     camera.CameraInfo(2, "/dev/video2", "Other Cam")])
    offered = []

    def choose_first(parent, title, label, items, current, editable):
        offered.extend(items)
        return items[0], True
    monkeypatch.setattr(mw.QInputDialog, "getItem", staticmethod(choose_first))
    seen: list[str] = []
    window.statusBar().messageChanged.connect(seen.append)
    window.streams.open_camera()
    assert offered == ["0: Stand-in Cam  (/dev/video0)", "2: Other Cam  (/dev/video2)"]
    qtbot.waitUntil(lambda: any("playing camera 0" in m for m in seen), timeout=10000)
    qtbot.waitUntil(lambda: "camera 640x480 30 fps YUYV" in window.stats_lines()[-1], timeout=10000)
    dev.disconnect_after = dev.delivered + 5  # the cable pulled
    qtbot.waitUntil(lambda: any("lost camera 0; reconnecting in 0.5 s" in m for m in seen), timeout=10000)
    dev.disconnect_after, dev.present = 0, True
    qtbot.waitUntil(lambda: any("reconnected to camera 0" in m for m in seen), timeout=15000)
    seq = window.shown_seq
    qtbot.waitUntil(lambda: window.shown_seq > seq + 3, timeout=10000)  # frames again
