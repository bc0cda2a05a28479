"""Lookout's main window: the video area (the start view until a source plays; with several streams
a grid of tiles, or one of them big), the stats overlay, and a side panel of folding sections that
scrolls. The GUI thread only paints.

Composed of controllers that own their widgets and state: ``streams`` (sources, the start view, the
grid, the selected stream), ``model_panel`` (detector, classes, classifier), ``counters`` (tracking,
lines and zones), ``recording`` (snapshots, recordings, their folders); the window holds the video,
the menus and the timer. A QTimer pulls the engine worker's latest result (~60 Hz) and repaints only
when it is new; requests go to the worker as method calls. Errors that come and go land in the status
bar; a source that fails brings the start view back with the reason.
"""
from __future__ import annotations

import collections
import operator
import time

import numpy as np
from PyQt6.QtCore import QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QApplication, QDialog, QLabel, QMainWindow, QStackedWidget

from detector.engine.models import Models
from detector.engine.live_session import LiveSession
from detector.engine.stats import RateMeter

from .bindings import KEYS
from .counter_controls import CounterControls
from .crop_menu import CropMenu
from .help_dialog import HelpDialog
from .model_controls import ModelControls
from .output_folders import app_settings
from .recording_controls import RecordingControls
from .scene_panel import SceneBars
from .section import Section
from .side_panel import side_panel
from .start_view import StartView
from .stream_controls import StreamControls
from .video_view import VideoView

# The smallest window that still shows the stats overlay over the video and a readable panel: a
# 1024 x 600 netbook fits it; a 1280 x 720 or 1366 x 768 laptop has room to spare.
MINIMUM_SIZE = (900, 560)


class MainWindow(QMainWindow):
    def __init__(self, session: LiveSession, models: Models, config, snapshot_dir: str | None = None,
                 record_dir: str | None = None, settings: QSettings | None = None):
        """``snapshot_dir`` / ``record_dir``: this run's folders (--snapshot-dir / --record-dir); else
        the remembered ones. ``settings``: where choices are remembered (tests pass their own)."""
        super().__init__()
        # models: what every stream shares (the detector); self.models is the selected stream's view
        self.session, self.base_models, self.config = session, models, config
        self.settings = settings if settings is not None else app_settings()
        self.setWindowTitle("Lookout")
        self.setMinimumSize(*MINIMUM_SIZE)
        self.resize(1180, 680)
        # The video area: the big view of one stream, the start view, or the grid of several streams.
        self.view = VideoView()
        self.view.set_blur(config.blur)
        self.view.setFocusPolicy(Qt.FocusPolicy.ClickFocus)  # a click on the video takes the keys back
        self.view.setMinimumSize(480, 320)
        self.crop_menu = CropMenu(self.view, lambda text: self.say(text, 10000))  # right-click a box
        self.start_view = StartView()
        self.stage = QStackedWidget()
        self.stage.addWidget(self.view)
        self.stage.addWidget(self.start_view)
        self.setCentralWidget(self.stage)
        selected = lambda: self.models  # noqa: E731  (the selected stream's, asked each time)
        self.streams = StreamControls(self, session, self.settings, self.stage, self.view, self.start_view,
                                      config.blur, self.say, self._show_stream, self._restart_display)
        self.model_panel = ModelControls(self, session, config, selected)
        self.counters = CounterControls(self, config, selected, self.view, self.say)
        self.recording = RecordingControls(self, session, self.view, self.settings, snapshot_dir, record_dir,
                                           config.blur, self.say)
        self.view.on_counter = self.counters.add_counter
        self._side_panel()
        self._actions()
        self.recording.act_record = self.act_record
        self.statusBar().addPermanentWidget(self.recording.notice, 1)
        self.help_dialog: HelpDialog | None = None
        self.shown_seq = 0  # results shown in the big view (of whichever stream was selected)
        self._shown_key: tuple[int, int] | None = None
        self.display_rate = RateMeter()
        self.display_age: collections.deque = collections.deque(maxlen=500)
        self.timer = QTimer(self)
        self.timer.timeout.connect(self.pull)
        self.timer.start(15)
        self.statusBar().showMessage("starting…")

    @property
    def models(self) -> Models:
        """The selected stream's models (its class filter, classifier mode, tracker and counters)."""
        f = self.session.focus
        return f.models if f is not None else self.base_models

    def say(self, text: str, ms: int = 8000) -> None:
        self.statusBar().showMessage(text, ms)

    def _side_panel(self) -> None:
        self.scene_bars = SceneBars()
        self.scene_bars.hide()  # no room for empty bars while the classifier is off
        self.det_counts = QLabel("—")
        self.det_counts.setWordWrap(True)
        self.sections = {s.title: s for s in (
            Section("Detector", self.model_panel.detector_section()),
            Section("Classes", self.model_panel.classes_section()),
            Section("Scene classifier", self.model_panel.classifier_section(self.scene_bars)),
            Section("Detections", self.det_counts),
            Section("Tracking and counting", self.counters.section()),
            Section("Output folders", self.recording.section()),
        )}
        self.event_list = None
        events = self.session.events
        if events is not None:  # --events: the last events (no section at all without it)
            from .event_list import EventList
            self.event_list = EventList(events.folder, self.say)
            events.listen(self.event_list.hear)
            self.sections["Events"] = Section("Events", self.event_list)
            self.counters.lock_tracking("on while --events records events")
        self.dock, self.panel_scroll = side_panel(self, list(self.sections.values()))

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
            a.triggered.connect(lambda _=False, slot=b.slot: operator.attrgetter(slot)(self)())
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
            self.streams.show_video()
        elif self.streams.focused_view:
            self.streams.back_to_grid()
        self.stage.currentWidget().setFocus(Qt.FocusReason.ShortcutFocusReason)

    # ---- the timer: pull, paint, stats ---------------------------------------------------------
    def _restart_display(self) -> None:
        self.display_rate.restart()

    def _show_stream(self, stream) -> None:
        """Another stream selected: the big view and the side panel show its state."""
        self._shown_key = None
        self.display_rate.restart()
        self.display_age.clear()
        result = stream.latest()[0] if stream is not None else None
        if result is not None:
            self.view.set_result(result)
        self.model_panel.show_stream(stream)
        self.counters.show_stream()

    def pull(self) -> None:
        while not self.session.messages.empty():
            self.say(self.session.messages.get_nowait(), 8000)
        self.streams.pull()
        if self.event_list is not None:
            self.event_list.pull()
        self.model_panel.follow_detector()
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
        self.counters.show_result(result)

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
        return f"{f.name} | " if f is not None and self.streams.several() else ""

    @staticmethod
    def _camera_text(stats) -> str:
        """What the camera granted, as the terminal's line says it (``Stats.camera_text``)."""
        return f"  | camera {stats.camera_text()}" if stats.camera_text() else ""

    # ---- controls ------------------------------------------------------------------------------
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
        """G: the regions the detector looked at, in the big view and on every tile alike."""
        self.view.show_regions = not self.view.show_regions
        for view in [self.view, *self.streams.grid.tiles]:
            view.show_regions = self.view.show_regions
            view.update()

    def toggle_stats(self) -> None:
        self.view.show_stats = not self.view.show_stats
        self.view.update()

    def toggle_fullscreen(self) -> None:
        self.showNormal() if self.isFullScreen() else self.showFullScreen()

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
        self.streams.close()
        super().closeEvent(event)
