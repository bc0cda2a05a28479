"""Lookout's main window: the video area (the start view until a source plays; with several streams
a grid of tiles, or one of them big), the stats overlay, and a side panel of folding sections that
scrolls. The GUI thread only paints.

A QTimer pulls the engine worker's latest result (~60 Hz) and repaints only when it is new;
requests go to the worker as method calls. Errors that come and go land in the status bar; a
source that fails brings the start view back with the reason.
"""
from __future__ import annotations

import collections
import queue
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import (QApplication, QDialog, QFileDialog, QInputDialog, QListWidgetItem, QMainWindow,
                             QStackedWidget)

from detector.engine.pipeline import Models
from detector.engine.session import LiveSession
from detector.engine.stats import RateMeter
from detector.io.camera import describe_cameras, list_cameras
from detector.models.registry import DEFAULT_CLASSIFIER
from detector.util.files import part_path

from .bindings import KEYS
from .counter_actions import CounterActions
from .crop_menu import CropMenu
from .grid_actions import GridActions
from .help_dialog import HelpDialog
from .notice import SavedNotice
from .output_folders import OutputFolders, app_settings, claim_fresh
from .side_panel import SidePanel
from .source_actions import SourceActions
from .start_view import StartView
from .video_view import VideoView
# The smallest window that still shows the stats overlay over the video and a readable panel: a
# 1024 x 600 netbook fits it; a 1280 x 720 or 1366 x 768 laptop has room to spare.
MINIMUM_SIZE = (900, 560)

class MainWindow(SidePanel, CounterActions, SourceActions, GridActions, QMainWindow):
    def __init__(self, session: LiveSession, models: Models, config, snapshot_dir: str | None = None,
                 record_dir: str | None = None, settings: QSettings | None = None):
        """``snapshot_dir`` / ``record_dir``: this run's folders (--snapshot-dir / --record-dir); else
        the remembered ones. ``settings``: where choices are remembered (tests pass their own)."""
        super().__init__()
        # models: what every stream shares (the detector); self.models is the selected stream's view
        self.session, self.base_models, self.config = session, models, config
        self.settings = settings if settings is not None else app_settings()
        self.folders = OutputFolders(self.settings, snapshot_dir, record_dir)
        self.setWindowTitle("Lookout")
        self.setMinimumSize(*MINIMUM_SIZE)
        self.resize(1180, 680)
        # The video area: the big view of one stream, the start view, or the grid of several streams.
        self.view = VideoView()
        self.view.set_blur(config.blur)
        self.view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a click on the video takes the keys back
        self.view.setMinimumSize(480, 320)
        self.view.on_counter = self.add_counter
        self.crop_menu = CropMenu(self.view, lambda text: self.statusBar().showMessage(text, 10000))  # right-click
        self.start_view = StartView()
        self.start_view.chosen.connect(self.open_source)
        self.start_view.open_file_asked.connect(self.open_file)
        self.start_view.open_url_asked.connect(self.open_url)
        self.stage = QStackedWidget()
        self.stage.addWidget(self.view)
        self.stage.addWidget(self.start_view)
        self._grid()
        self.setCentralWidget(self.stage)
        self._side_panel()
        self._actions()
        self.notice = SavedNotice()
        self.statusBar().addPermanentWidget(self.notice, 1)
        self.help_dialog: HelpDialog | None = None
        self.shown_seq = 0  # results shown in the big view (of whichever stream was selected)
        self._shown_key: tuple[int, int] | None = None
        self._shown_detector = self.models.detector
        self._shown_state: tuple[str, str, str] | None = None
        self.display_rate = RateMeter()
        self.display_age: collections.deque = collections.deque(maxlen=500)
        self._probes: queue.Queue = queue.Queue()
        self._probe_thread: threading.Thread | None = None
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.pull)
        self.timer.start(15)
        self.statusBar().showMessage("starting…")

    # ---- classes and keys ----------------------------------------------------------------------
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
        """The menus and shortcuts, from ui.bindings.KEYS (the F1 help is built from the same table)."""
        menus = {name: self.menuBar().addMenu(f"&{name}") for name in ("File", "View", "Help")}
        for b in KEYS:
            a = QAction(b.text, self)
            a.setShortcut(QKeySequence(b.key))
            # Application-wide, so the keys work whichever panel was used last; a text field still
            # keeps the keys it types (Qt lets it override shortcuts), and Esc leaves it.
            a.setShortcutContext(Qt.ShortcutContext.ApplicationShortcut)
            a.setCheckable(b.checkable)
            a.setChecked(b.checked)
            a.triggered.connect(lambda _=False, slot=b.slot: getattr(self, slot)())
            menus[b.menu].addAction(a)
            self.addAction(a)
            if b.attr:
                setattr(self, b.attr, a)
        menus["View"].addAction(self.dock.toggleViewAction())

    def escape(self) -> None:
        """Close a dialog of ours (an application-wide Esc reaches us before the dialog would see it),
        cancel drawing, come back from the sources to a playing video or from the focus view to the grid,
        give the keys back to the video."""
        active = QApplication.activeWindow()
        if isinstance(active, QDialog) and active.parent() is self:
            active.close()
            return
        if self.view.draw_mode is not None:
            self.view.start_drawing(None)
        elif self.stage.currentWidget() is self.start_view and self.session.source_state[0] in ("playing", "ended"):
            self._show_video()
        elif self.focused_view:
            self.back_to_grid()
        self.stage.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ---- the timer: pull, paint, stats ---------------------------------------------------------
    def pull(self) -> None:
        while not self.session.messages.empty():
            self.statusBar().showMessage(self.session.messages.get_nowait(), 8000)
        self._sync_tiles()
        self._follow_source_state()
        while not self._probes.empty():
            self.start_view.set_cameras(self._probes.get_nowait())
        if self.event_list is not None:
            self.event_list.pull()
        if self.models.detector is not self._shown_detector:  # swapped in by a loader: new label list
            self._shown_detector = self.models.detector
            self._fill_classes()
        result, seq = self.session.latest()
        key = (id(self.session.focus), seq)
        if result is None or key == self._shown_key:
            if self.session.paused and self.view.stats_lines[:1] != self.stats_lines()[:1]:
                self.view.stats_lines = self.stats_lines()  # "paused" shows at once, not at the next frame
                self.view.update()
            return
        self._shown_key = key
        self.shown_seq += 1
        now = time.monotonic()
        if not self.session.paused:
            self.display_rate.tick(now)
        self.display_age.append((now - result.frame.captured_at) * 1000)
        self.view.stats_lines = self.stats_lines()
        self.view.set_result(result)
        self.scene_bars.show_result(result)
        labels = collections.Counter(result.detections.labels)
        self.det_counts.setText(", ".join(f"{k}: {v}" for k, v in sorted(labels.items())) or "none")
        if result.analytics is not None:
            from detector.ops.draw import count_lines
            text = "\n".join(count_lines(result.analytics))
            self.count_label.setText(text)
            self.count_label.setVisible(bool(text))
        else:  # tracking off: no counts to read
            self.count_label.hide()

    def display_fps(self) -> float:
        return 0.0 if self.session.paused else self.display_rate.rate()

    def stats_lines(self) -> list[str]:
        s = self.session.stats
        d50, d95 = s.percentiles("detect")
        c50, c95 = s.percentiles("classify")
        age = np.percentile(self.display_age, 50) if self.display_age else 0.0
        snap = self.models.snapshot()
        clf = getattr(snap.classifier, "name", "") if snap.classify != "off" else "off"
        rates = ("paused: rates restart on resume" if self.session.paused else
                 f"capture {s.rate('captured'):5.1f} fps  inference {s.rate('inferred'):5.1f} fps  "
                 f"display {self.display_fps():5.1f} fps")
        return [rates,
                f"detect p50 {d50:5.1f} ms  p95 {d95:5.1f} ms   classify p50 {c50:5.1f}  p95 {c95:5.1f} ms",
                f"frame age at display {age:6.1f} ms   dropped {s.get('dropped')}   bad {s.get('bad_frames')}",
                self._stream_text() + f"{snap.detector.device} | {snap.detector.name} | classifier {clf}"
                + ("  | PAUSED" if self.session.paused else "") + ("  | REC" if self.session.recording else "")
                + self._camera_text(s)]

    def _stream_text(self) -> str:
        f = self.session.focus
        return f"{f.name} | " if f is not None and self.several() else ""

    @staticmethod
    def _camera_text(stats) -> str:
        """What the camera granted, as the terminal's line says it (``Stats.camera_text``)."""
        return f"  | camera {stats.camera_text()}" if stats.camera_text() else ""

    # ---- controls ------------------------------------------------------------------------------
    def on_conf(self, v: int) -> None:
        if self.session.focus is None:
            self.models.set_thresholds(conf=v / 100)
        self.session.set_conf(v / 100)  # the selected stream's; the shared detector runs at the lowest
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
        self.session.load(name, lambda: self._load_detector(name, device), self.session.swap_detector)

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
        models = self.models  # the stream selected when it was asked for
        self.session.load(name, lambda: _require(load_classifier_or_warn(name, device, self.session.messages.put)),
                          lambda clf: models.set_classify(mode, clf), kind="classifier")

    def on_device(self, _index=None) -> None:
        device = self.device_box.currentText()
        name = self.model_box.currentText() if self.model_box.currentText() != "Open…" else self.config.model
        self.session.load(f"{name} on {device}", lambda: self._load_detector(name, device),
                          self.session.swap_detector)

    def toggle_pause(self) -> None:
        self.session.pause(self.act_pause.isChecked())
        self.display_rate.restart()

    def step(self) -> None:
        if not self.session.paused:
            self.act_pause.setChecked(True)
            self.session.pause(True)
        self.session.step()

    def toggle_tracks(self) -> None:
        self.view.show_tracks = not self.view.show_tracks
        self.view.redraw()

    def toggle_regions(self) -> None:
        self.view.show_regions = not self.view.show_regions
        self.view.update()

    def toggle_stats(self) -> None:
        self.view.show_stats = not self.view.show_stats
        self.view.update()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

    def _saved(self, what: str, path: Path) -> None:
        self.statusBar().showMessage(f"{what} {path}", 10000)
        self.notice.show_path(what, path)

    def snapshot(self) -> Path | None:
        """The annotated frame as PNG in the snapshot folder, under a new name. (A one-frame PNG write
        of the user's own asking, done here so the path can be shown at once.)"""
        result, drawn = self.view.result, self.view.drawn
        if result is None or drawn is None:
            return None
        ok, png = cv2.imencode(".png", drawn)  # what the screen shows, drawn by the outputs' renderer
        folder = self.folders.folder("snapshots")
        try:
            path = claim_fresh(folder, f"lookout_{time.strftime('%Y%m%d_%H%M%S')}_{result.frame.index:06d}", ".png")
            path.write_bytes(png.tobytes())
        except OSError as e:
            self.statusBar().showMessage(f"cannot save a snapshot in {folder}: {e.strerror or e}", 10000)
            return None
        self._saved("snapshot saved to", path)
        return path

    def toggle_record(self) -> None:
        if self.session.recording:
            path = self.session.stop_recording()  # finished off this thread; a message says when saved
            self.statusBar().showMessage(f"finishing recording {path}…", 8000)
            self.act_record.setChecked(False)
            return
        folder = self.folders.folder("recordings")
        try:
            # the encoder writes the partial file the name is held by, and renames it when done
            path = claim_fresh(folder, f"lookout_{time.strftime('%Y%m%d_%H%M%S')}", ".mp4", reserve=part_path)
        except OSError as e:
            self.act_record.setChecked(False)
            self.statusBar().showMessage(f"cannot record in {folder}: {e.strerror or e}", 10000)
            return
        try:
            self.session.start_recording(str(path), self.config.blur)
        except ValueError as e:
            part_path(path).unlink(missing_ok=True)
            self.act_record.setChecked(False)
            self.statusBar().showMessage(str(e), 10000)
            return
        self.act_record.setChecked(True)
        self._saved("recording to", path)

    def open_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open video or image", "",
                                              "Media (*.mp4 *.avi *.mkv *.mov *.webm *.jpg *.jpeg *.png *.bmp);;All (*)")
        if path:
            self.open_source(path)

    def open_camera(self) -> None:
        """The cameras present, as ``lookout --list-cameras`` lists them. On Linux that is a read of
        sysfs (instant); elsewhere listing means opening each device, too slow for the GUI thread, so
        the user types an index instead."""
        if not sys.platform.startswith("linux"):
            idx, ok = QInputDialog.getInt(self, "Open webcam", "Camera index:", 0, 0, 63)
            if ok:
                self.open_source(str(idx))
            return
        cameras = list_cameras()
        if not cameras:
            self.statusBar().showMessage(describe_cameras(cameras), 8000)
            return
        items = [f"{c.index}: {c.name}  ({c.path})" for c in cameras]
        item, ok = QInputDialog.getItem(self, "Open webcam", "Camera:", items, 0, False)
        if ok and item in items:
            self.open_source(str(cameras[items.index(item)].index))

    def open_url(self) -> None:
        url, ok = QInputDialog.getText(self, "Open stream", "URL (rtsp://, http://):")
        if ok and url.strip():
            self.open_source(url.strip())

    def show_help(self) -> None:
        if self.help_dialog is None:
            self.help_dialog = HelpDialog(self)
        self.help_dialog.show()
        self.help_dialog.raise_()

    def closeEvent(self, event) -> None:
        self.timer.stop()
        self.session.stop(timeout=2.0)  # with --events: the streams' last events end, the hub closes
        if self.event_list is not None:
            self.event_list.close_loader()
        if self._probe_thread is not None:
            self._probe_thread.join(timeout=2.0)
        super().closeEvent(event)


def _require(obj):
    if obj is None:
        raise ValueError("classifier unavailable (see the message above)")
    return obj
