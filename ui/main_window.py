"""Lookout's main window: video, stats overlay, classifier panel, controls. The GUI thread only paints.

A QTimer pulls the engine worker's latest result (~60 Hz) and repaints only when it is new;
requests go to the worker as method calls. Errors that come and go land in the status bar.
"""
from __future__ import annotations

import collections
import sys
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QFileDialog, QFormLayout, QHBoxLayout, QInputDialog,
                             QLabel, QLineEdit, QListWidget, QListWidgetItem, QMainWindow, QMessageBox,
                             QProgressBar, QPushButton, QSlider, QVBoxLayout, QWidget)

from detector.io.camera import describe_cameras, list_cameras
from detector.ops.draw import annotate
from detector.models.registry import DEFAULT_CLASSIFIER, KNOWN_MODELS
from detector.engine.pipeline import Models
from detector.engine.session import LiveSession

from .video_view import VideoView

SHORTCUTS = [("Space", "pause / resume"), ("Right", "step one frame while paused"), ("S", "snapshot"),
             ("T", "track IDs and trails on / off"), ("Esc", "cancel drawing a line or zone"),
             ("R", "record on / off"), ("F", "fullscreen"), ("I", "stats overlay on / off"),
             ("Ctrl+O", "open a video or image file"), ("Ctrl+K", "open a webcam"), ("Ctrl+U", "open a stream URL"),
             ("F1", "this help"), ("Ctrl+Q", "quit")]


class TopKPanel(QWidget):
    """Frame-level classifier top-5 with bars, and a count of current detections per class."""

    def __init__(self, parent=None):
        super().__init__(parent)
        lay = QVBoxLayout(self)
        lay.addWidget(QLabel("<b>Scene (classifier)</b>"))
        self.rows = []
        for _ in range(5):
            label, bar = QLabel(""), QProgressBar()
            bar.setRange(0, 1000)
            bar.setTextVisible(False)
            bar.setMaximumHeight(8)
            lay.addWidget(label)
            lay.addWidget(bar)
            self.rows.append((label, bar))
        lay.addWidget(QLabel("<b>Detections</b>"))
        self.counts = QLabel("—")
        self.counts.setWordWrap(True)
        lay.addWidget(self.counts)
        lay.addStretch(1)

    def show_result(self, result) -> None:
        top = result.detections.frame_class.top if result.detections.frame_class else ()
        for i, (label, bar) in enumerate(self.rows):
            if i < len(top):
                label.setText(f"{top[i][0].split(',')[0]}  {top[i][1]:.2f}")
                bar.setValue(int(top[i][1] * 1000))
            else:
                label.setText("" if i else "(classifier off)")
                bar.setValue(0)
        c = collections.Counter(result.detections.labels)
        self.counts.setText(", ".join(f"{k}: {v}" for k, v in sorted(c.items())) or "none")


class MainWindow(QMainWindow):
    def __init__(self, session: LiveSession, models: Models, config, snapshot_dir: str = "."):
        super().__init__()
        self.session, self.models, self.config = session, models, config
        self.snapshot_dir = Path(snapshot_dir)
        self.setWindowTitle("Lookout")
        self.resize(1180, 680)
        self.view = VideoView()
        self.setCentralWidget(self.view)
        self.panel = TopKPanel()
        self._dock("Classifier", self.panel, Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Controls", self._controls(), Qt.DockWidgetArea.RightDockWidgetArea)
        self._dock("Tracking and counting", self._counting(), Qt.DockWidgetArea.RightDockWidgetArea)
        self.view.on_counter = self.add_counter
        self._actions()
        self.shown_seq = 0
        self._shown_detector = self.models.detector
        self.display_times: collections.deque = collections.deque(maxlen=64)
        self.display_age: collections.deque = collections.deque(maxlen=500)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.pull)
        self.timer.start(15)
        self.statusBar().showMessage("starting…")

    # ---- layout --------------------------------------------------------------------------------
    def _dock(self, title: str, widget: QWidget, area) -> None:
        dock = QDockWidget(title, self)
        dock.setWidget(widget)
        dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetMovable)
        self.addDockWidget(area, dock)

    def _controls(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        det = self.models.detector
        self.conf = QSlider(Qt.Orientation.Horizontal)
        self.conf.setRange(1, 99)
        self.conf.setValue(round(det.score_threshold * 100))
        self.conf_label = QLabel(f"{det.score_threshold:.2f}")
        self.conf.valueChanged.connect(self.on_conf)
        form.addRow("Confidence", self.conf)
        form.addRow("", self.conf_label)
        self.iou = QSlider(Qt.Orientation.Horizontal)
        self.iou.setRange(5, 100)
        self.iou.setValue(round(det.iou_threshold * 100))
        self.iou_label = QLabel(f"{det.iou_threshold:.2f}")
        self.iou.valueChanged.connect(self.on_iou)
        form.addRow("NMS IoU", self.iou)
        form.addRow("", self.iou_label)
        # 90 COCO classes: a search box narrows the list, All / None set every class at once.
        self.class_search = QLineEdit()
        self.class_search.setPlaceholderText("search classes…")
        self.class_search.setClearButtonEnabled(True)
        self.class_search.textChanged.connect(self.on_class_search)
        form.addRow("Classes", self.class_search)
        buttons = QWidget()
        row = QHBoxLayout(buttons)
        row.setContentsMargins(0, 0, 0, 0)
        self.class_all, self.class_none = QPushButton("All"), QPushButton("None")
        self.class_all.clicked.connect(lambda: self.set_all_classes(True))
        self.class_none.clicked.connect(lambda: self.set_all_classes(False))
        row.addWidget(self.class_all)
        row.addWidget(self.class_none)
        form.addRow("", buttons)
        self.classes = QListWidget()
        self.classes.setMaximumHeight(180)
        self._fill_classes()
        self.classes.itemChanged.connect(self.on_classes)
        form.addRow("", self.classes)
        self.model_box = QComboBox()
        self.model_box.addItems([*KNOWN_MODELS, "Open…"])
        self.model_box.setCurrentText(det.name if det.name in KNOWN_MODELS else "Open…")
        self.model_box.activated.connect(self.on_model)
        form.addRow("Detector", self.model_box)
        self.classify_box = QComboBox()
        self.classify_box.addItems(["off", "frame", "boxes"])
        self.classify_box.setCurrentText(self.models.snapshot().classify)
        self.classify_box.activated.connect(self.on_classify)
        form.addRow("Classify", self.classify_box)
        self.device_box = QComboBox()
        from detector.runtime.host import available_devices
        self.device_box.addItems(available_devices())
        self.device_box.setCurrentText(det.device)
        self.device_box.activated.connect(self.on_device)
        form.addRow("Device", self.device_box)
        return w

    def _counting(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        self.track_box = QCheckBox("Track objects (IDs, trails)")
        self.track_box.setChecked(self.models.analytics is not None)
        self.track_box.toggled.connect(self.on_track)
        lay.addWidget(self.track_box)
        row = QHBoxLayout()
        self.draw_line_btn, self.draw_zone_btn = QPushButton("Draw line"), QPushButton("Draw zone")
        self.draw_line_btn.clicked.connect(lambda: self.view.start_drawing("line"))
        self.draw_zone_btn.clicked.connect(lambda: self.view.start_drawing("zone"))
        row.addWidget(self.draw_line_btn)
        row.addWidget(self.draw_zone_btn)
        lay.addLayout(row)
        self.counter_list = QListWidget()
        self.counter_list.setMaximumHeight(90)
        self.counter_list.itemDoubleClicked.connect(self.rename_counter)
        lay.addWidget(self.counter_list)
        row = QHBoxLayout()
        for text, slot in (("Delete", self.delete_counter), ("Reset counts", self.reset_counts),
                           ("Save…", self.save_counters), ("Load…", self.load_counters)):
            b = QPushButton(text)
            b.clicked.connect(slot)
            row.addWidget(b)
        lay.addLayout(row)
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        lay.addWidget(self.count_label)
        self._fill_counters()
        return w

    # ---- tracking and counting (all on the GUI thread: quick, no I/O but the user's own file) -----
    def _analytics(self):
        """The stream's analytics, created on first use (tracking on)."""
        if self.models.analytics is None:
            from detector.engine.run import make_analytics
            self.models.analytics = make_analytics(replace(self.config, track=True))
            self.track_box.setChecked(True)
        return self.models.analytics

    def on_track(self, on: bool) -> None:
        if on:
            self._analytics()
        else:
            self.models.analytics = None
            self._fill_counters()

    def _set_counters(self, counters) -> None:
        try:
            self._analytics().set_counters(counters)
        except ValueError as e:
            self.statusBar().showMessage(str(e), 8000)
        self._fill_counters()

    def add_counter(self, counter) -> None:
        from detector.analytics.counting import Line, Zone
        existing = self._analytics().counters
        kind = "line" if isinstance(counter, Line) else "zone"
        n = 1 + sum(1 for c in existing if isinstance(c, Line) == (kind == "line"))
        names = {c.name for c in existing}
        while f"{kind}{n}" in names:
            n += 1
        named = Line(f"{kind}{n}", counter.p1, counter.p2) if kind == "line" else Zone(f"{kind}{n}", counter.points)
        self._set_counters(existing + [named])

    def rename_counter(self, item) -> None:
        from dataclasses import replace as dc_replace
        old = item.text().split(" ", 1)[0]
        name, ok = QInputDialog.getText(self, "Rename", "Name:", text=old)
        if ok and name.strip() and name.strip() != old:
            self._set_counters([dc_replace(c, name=name.strip()) if c.name == old else c
                                for c in self._analytics().counters])

    def delete_counter(self) -> None:
        item = self.counter_list.currentItem()
        if item is not None and self.models.analytics is not None:
            old = item.text().split(" ", 1)[0]
            self._set_counters([c for c in self.models.analytics.counters if c.name != old])

    def reset_counts(self) -> None:
        if self.models.analytics is not None:
            self.models.analytics.reset_counts()

    def save_counters(self) -> None:
        from detector.analytics.counting import save_counters
        if self.models.analytics is None or not self.models.analytics.counters:
            self.statusBar().showMessage("no lines or zones to save", 5000)
            return
        path, _ = QFileDialog.getSaveFileName(self, "Save lines and zones", "counters.json", "JSON (*.json)")
        if path:
            save_counters(path, self.models.analytics.counters)
            self.statusBar().showMessage(f"saved {path} (load it with --counters {path})", 8000)

    def load_counters(self, path: str | None = None) -> None:
        from detector.analytics.counting import load_counters
        if not path:
            path, _ = QFileDialog.getOpenFileName(self, "Load lines and zones", "", "JSON (*.json)")
        if path:
            try:
                self._set_counters(load_counters(path))
            except ValueError as e:
                self.statusBar().showMessage(str(e), 8000)

    def _fill_counters(self) -> None:
        from detector.analytics.counting import Line
        self.counter_list.clear()
        a = self.models.analytics
        for c in (a.counters if a is not None else []):
            self.counter_list.addItem(f"{c.name} ({'line' if isinstance(c, Line) else 'zone'})")

    def _fill_classes(self) -> None:
        self.classes.blockSignals(True)
        self.classes.clear()
        keep = self.models.snapshot().classes
        for i, name in enumerate(self.models.detector.labels):
            if i == 0 or name.startswith("class_"):  # background, and ids COCO never used
                continue
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if keep is None or i in keep else Qt.CheckState.Unchecked)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self.on_class_search(self.class_search.text())

    def on_class_search(self, text: str) -> None:
        text = text.strip().lower()
        for i in range(self.classes.count()):
            item = self.classes.item(i)
            item.setHidden(bool(text) and text not in item.text().lower())

    def set_all_classes(self, checked: bool) -> None:
        """Check or uncheck every class (the search does not narrow this), then filter once."""
        state = Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked
        self.classes.blockSignals(True)
        for i in range(self.classes.count()):
            self.classes.item(i).setCheckState(state)
        self.classes.blockSignals(False)
        self.on_classes()

    def _actions(self) -> None:
        menu_file = self.menuBar().addMenu("&File")
        menu_view = self.menuBar().addMenu("&View")
        menu_help = self.menuBar().addMenu("&Help")
        self.act_pause = self._act(menu_view, "Pause", "Space", self.toggle_pause, checkable=True)
        self._act(menu_view, "Step", "Right", self.step)
        self._act(menu_view, "Stats overlay", "I", self.toggle_stats, checkable=True, checked=True)
        self._act(menu_view, "Track IDs and trails", "T", self.toggle_tracks, checkable=True, checked=True)
        self._act(menu_view, "Fullscreen", "F", self.toggle_fullscreen)
        self._act(menu_file, "Open file…", "Ctrl+O", self.open_file)
        self._act(menu_file, "Open webcam…", "Ctrl+K", self.open_camera)
        self._act(menu_file, "Open stream URL…", "Ctrl+U", self.open_url)
        self._act(menu_file, "Snapshot", "S", self.snapshot)
        self.act_record = self._act(menu_file, "Record", "R", self.toggle_record, checkable=True)
        self._act(menu_file, "Quit", "Ctrl+Q", self.close)
        self._act(menu_help, "Keyboard shortcuts", "F1", self.show_help)

    def _act(self, menu, text, key, slot, checkable=False, checked=False) -> QAction:
        a = QAction(text, self)
        a.setShortcut(QKeySequence(key))
        a.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
        a.setCheckable(checkable)
        a.setChecked(checked)
        a.triggered.connect(slot)
        menu.addAction(a)
        self.addAction(a)
        return a

    # ---- the timer: pull, paint, stats ---------------------------------------------------------
    def pull(self) -> None:
        while not self.session.messages.empty():
            self.statusBar().showMessage(self.session.messages.get_nowait(), 8000)
        if self.models.detector is not self._shown_detector:  # swapped in by a loader: new label list
            self._shown_detector = self.models.detector
            self._fill_classes()
        result, seq = self.session.latest()
        if result is None or seq == self.shown_seq:
            return
        self.shown_seq = seq
        now = time.monotonic()
        self.display_times.append(now)
        self.display_age.append((now - result.frame.captured_at) * 1000)
        self.view.stats_lines = self.stats_lines()
        self.view.set_result(result)
        self.panel.show_result(result)
        if result.analytics is not None:
            from detector.ops.draw import count_lines
            self.count_label.setText("\n".join(count_lines(result.analytics)))

    def display_fps(self) -> float:
        t = self.display_times
        return (len(t) - 1) / (t[-1] - t[0]) if len(t) > 1 and t[-1] > t[0] else 0.0

    def stats_lines(self) -> list[str]:
        s = self.session.stats
        d50, d95 = s.percentiles("detect")
        c50, c95 = s.percentiles("classify")
        age = np.percentile(self.display_age, 50) if self.display_age else 0.0
        snap = self.models.snapshot()
        clf = getattr(snap.classifier, "name", "") if snap.classify != "off" else "off"
        return [f"capture {s.rate('captured'):5.1f} fps  inference {s.rate('inferred'):5.1f} fps  "
                f"display {self.display_fps():5.1f} fps",
                f"detect p50 {d50:5.1f} ms  p95 {d95:5.1f} ms   classify p50 {c50:5.1f}  p95 {c95:5.1f} ms",
                f"frame age at display {age:6.1f} ms   dropped {s.get('dropped')}   bad {s.get('bad_frames')}",
                f"{snap.detector.device} | {snap.detector.name} | classifier {clf}"
                + ("  | PAUSED" if self.session.paused else "") + ("  | REC" if self.session.recording else "")
                + self._camera_text(s)]

    @staticmethod
    def _camera_text(stats) -> str:
        """What the camera granted (it may differ from --width/--height/--fps/--fourcc)."""
        cam = stats.info.get("camera", {}).get("granted")
        return f"  | camera {cam['width']}x{cam['height']} {cam['fps']:g} fps {cam['fourcc']}".rstrip() if cam else ""

    # ---- controls ------------------------------------------------------------------------------
    def on_conf(self, v: int) -> None:
        self.models.set_thresholds(conf=v / 100)
        self.conf_label.setText(f"{v / 100:.2f}")

    def on_iou(self, v: int) -> None:
        self.models.set_thresholds(iou=v / 100)
        self.iou_label.setText(f"{v / 100:.2f}")

    def on_classes(self, _item=None) -> None:
        names = [self.classes.item(i).text() for i in range(self.classes.count())
                 if self.classes.item(i).checkState() == Qt.CheckState.Checked]
        self.models.set_classes(None if len(names) == self.classes.count() else names)  # all: no filter

    def on_model(self, _index=None) -> None:
        name = self.model_box.currentText()
        if name == "Open…":
            name, _ = QFileDialog.getOpenFileName(self, "Detector weights", "", "Models (*.tflite *.pt *.pb *.tar.gz)")
            if not name:
                return
        device = self.device_box.currentText()
        self.session.load(name, lambda: self._load_detector(name, device), self.models.swap_detector)

    def _load_detector(self, name: str, device: str):
        """The command line's loader with its backend options (--backend, --half): torch-free when it can."""
        from detector.engine.run import load_detector_for
        return load_detector_for(name, device, self.config)

    def on_classify(self, _index=None) -> None:
        mode = self.classify_box.currentText()
        snap = self.models.snapshot()
        if mode == "off" or snap.classifier is not None:
            self.models.set_classify(mode)
            return
        from detector.engine.run import load_classifier_or_warn
        name = self.config.classifier or DEFAULT_CLASSIFIER
        device = snap.detector.device
        self.session.load(name, lambda: _require(load_classifier_or_warn(name, device, self.session.messages.put)),
                                 lambda clf: self.models.set_classify(mode, clf), kind="classifier")

    def on_device(self, _index=None) -> None:
        device = self.device_box.currentText()
        name = self.model_box.currentText() if self.model_box.currentText() != "Open…" else self.config.model
        self.session.load(f"{name} on {device}", lambda: self._load_detector(name, device),
                                 self.models.swap_detector)

    def toggle_pause(self) -> None:
        self.session.pause(self.act_pause.isChecked())

    def step(self) -> None:
        if not self.session.paused:
            self.act_pause.setChecked(True)
            self.session.pause(True)
        self.session.step()

    def toggle_tracks(self) -> None:
        self.view.show_tracks = not self.view.show_tracks
        self.view.update()

    def toggle_stats(self) -> None:
        self.view.show_stats = not self.view.show_stats
        self.view.update()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def snapshot(self) -> Path | None:
        result = self.view.result
        if result is None:
            return None
        path = self.snapshot_dir / f"lookout_{time.strftime('%Y%m%d_%H%M%S')}_{result.frame.index:06d}.png"
        if cv2.imwrite(str(path), annotate(result.frame.image, result.detections, analytics=result.analytics)):
            self.statusBar().showMessage(f"snapshot saved to {path}", 8000)
            return path
        self.statusBar().showMessage(f"cannot save snapshot to {path}", 8000)
        return None

    def toggle_record(self) -> None:
        if self.session.recording:
            path = self.session.stop_recording()  # finished off this thread; a message says when saved
            self.statusBar().showMessage(f"finishing recording {path}…", 8000)
            self.act_record.setChecked(False)
            return
        path = self.snapshot_dir / f"lookout_{time.strftime('%Y%m%d_%H%M%S')}.mp4"
        try:
            self.session.start_recording(str(path))
            self.statusBar().showMessage(f"recording to {path}", 8000)
        except ValueError as e:
            self.act_record.setChecked(False)
            self.statusBar().showMessage(str(e), 8000)

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", "",
                                              "Media (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.bmp);;All (*)")
        if path:
            self.session.set_source(path)

    def open_camera(self) -> None:
        """The cameras present, as ``lookout --list-cameras`` lists them. On Linux that is a read of
        sysfs (instant); elsewhere listing means opening each device, too slow for the GUI thread, so
        the user types an index instead."""
        if not sys.platform.startswith("linux"):
            idx, ok = QInputDialog.getInt(self, "Open webcam", "Camera index:", 0, 0, 63)
            if ok:
                self.session.set_source(str(idx))
            return
        cameras = list_cameras()
        if not cameras:
            self.statusBar().showMessage(describe_cameras(cameras), 8000)
            return
        items = [f"{c.index}: {c.name}  ({c.path})" for c in cameras]
        item, ok = QInputDialog.getItem(self, "Open webcam", "Camera:", items, 0, False)
        if ok and item in items:
            self.session.set_source(str(cameras[items.index(item)].index))

    def open_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Open stream", "URL (rtsp://, http://):")
        if ok and url.strip():
            self.session.set_source(url.strip())

    def show_help(self) -> None:
        QMessageBox.information(self, "Keyboard shortcuts", "\n".join(f"{k:8}  {v}" for k, v in SHORTCUTS))

    def closeEvent(self, event) -> None:
        self.timer.stop()
        self.session.stop(timeout=2.0)
        super().closeEvent(event)


def _require(obj):
    if obj is None:
        raise ValueError("classifier unavailable (see the message above)")
    return obj
