"""The window's side panel: folding sections in one scroll area, docked on the right. A mixin of
MainWindow: it builds the widgets the window's slots read (self.conf, self.classes, ...)."""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QCheckBox, QComboBox, QDockWidget, QFileDialog, QFormLayout, QFrame, QGridLayout,
                             QHBoxLayout, QLabel, QLineEdit, QListWidget, QPushButton, QScrollArea, QSlider,
                             QVBoxLayout, QWidget)

from detector.models.registry import KNOWN_MODELS

from .notice import ElidedLabel
from .scene_panel import SceneBars
from .section import Section

PANEL_MIN_WIDTH = 290


class SidePanel:
    def _side_panel(self) -> None:
        """One dock holding folding sections in a scroll area: at any window height every control
        can be reached, and no section is ever squeezed over another."""
        self.scene_bars = SceneBars()
        self.scene_bars.hide()  # no room for empty bars while the classifier is off
        self.det_counts = QLabel("—")
        self.det_counts.setWordWrap(True)
        self.sections = {s.title: s for s in (
            Section("Detector", self._detector_controls()),
            Section("Classes", self._class_controls()),
            Section("Scene classifier", self._classifier_controls()),
            Section("Detections", self.det_counts),
            Section("Tracking and counting", self._counting()),
            Section("Output folders", self._folder_controls()),
        )}
        self.event_list = None
        events = getattr(self.session, "events", None)
        if events is not None:  # --events: the last events (no section at all without it)
            from .event_list import EventList
            self.event_list = EventList(events.folder, lambda text: self.statusBar().showMessage(text, 8000))
            events.listen(self.event_list.hear)
            self.sections["Events"] = Section("Events", self.event_list)
            self.track_box.setEnabled(False)  # events are confirmed tracks: tracking stays on
            self.track_box.setToolTip("on while --events records events")
        content = QWidget()
        lay = QVBoxLayout(content)
        lay.setContentsMargins(6, 4, 6, 4)
        lay.setSpacing(2)
        for section in self.sections.values():
            lay.addWidget(section)
        lay.addStretch(1)
        self.panel_scroll = QScrollArea()
        self.panel_scroll.setWidgetResizable(True)
        self.panel_scroll.setFrameShape(QFrame.Shape.NoFrame)
        self.panel_scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.panel_scroll.setWidget(content)
        scrollbar = self.panel_scroll.verticalScrollBar().sizeHint().width()
        self.panel_scroll.setMinimumWidth(max(content.minimumSizeHint().width(), PANEL_MIN_WIDTH) + scrollbar)
        self.dock = QDockWidget("Side panel", self)
        self.dock.setObjectName("panel")
        self.dock.setWidget(self.panel_scroll)
        # No title bar (its height is worth more as panel rows), so nothing to drag: View > Side panel
        # hides and shows it, for a bigger video.
        self.dock.setFeatures(QDockWidget.DockWidgetFeature.DockWidgetClosable)
        self.dock.setTitleBarWidget(QWidget())
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.dock)

    def _detector_controls(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 0, 0, 0)
        det = self.models.detector
        self.model_box = QComboBox()
        self.model_box.addItems([*KNOWN_MODELS, "Open…"])
        self.model_box.setCurrentText(det.name if det.name in KNOWN_MODELS else "Open…")
        self.model_box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.model_box.setMinimumContentsLength(12)
        self.model_box.activated.connect(self.on_model)
        form.addRow("Model", self.model_box)
        self.device_box = QComboBox()
        from detector.runtime.host import available_devices
        self.device_box.addItems(available_devices())
        self.device_box.setCurrentText(det.device.split(":")[0])
        self.device_box.activated.connect(self.on_device)
        form.addRow("Device", self.device_box)
        self.conf, self.conf_label = _slider(1, 99, det.score_threshold, self.on_conf)
        form.addRow("Confidence", _beside(self.conf, self.conf_label))
        self.iou, self.iou_label = _slider(5, 100, det.iou_threshold, self.on_iou)
        form.addRow("NMS IoU", _beside(self.iou, self.iou_label))
        return w

    def _class_controls(self) -> QWidget:
        # 90 COCO classes: a search box narrows the list, All / None set every class at once.
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(4, 0, 0, 0)
        row = QHBoxLayout()
        self.class_search = QLineEdit()
        self.class_search.setPlaceholderText("search classes…")
        self.class_search.setClearButtonEnabled(True)
        self.class_search.textChanged.connect(self.on_class_search)
        self.class_all, self.class_none = QPushButton("All"), QPushButton("None")
        self.class_all.clicked.connect(lambda: self.set_all_classes(True))
        self.class_none.clicked.connect(lambda: self.set_all_classes(False))
        row.addWidget(self.class_search, 1)
        row.addWidget(self.class_all)
        row.addWidget(self.class_none)
        lay.addLayout(row)
        self.classes = QListWidget()
        self.classes.setFixedHeight(104)
        self._fill_classes()
        self.classes.itemChanged.connect(self.on_classes)
        lay.addWidget(self.classes)
        return w

    def _classifier_controls(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 0, 0, 0)
        self.classify_box = QComboBox()
        self.classify_box.addItems(["off", "frame", "boxes"])
        self.classify_box.setCurrentText(self.models.snapshot().classify)
        self.classify_box.activated.connect(self.on_classify)
        form.addRow("Classify", self.classify_box)
        form.addRow(self.scene_bars)
        return w

    def _counting(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(4, 0, 0, 0)
        self.track_box = QCheckBox("Track objects (IDs, trails)")
        self.track_box.setChecked(self.models.analytics is not None)
        self.track_box.toggled.connect(self.on_track)
        lay.addWidget(self.track_box)
        grid = QGridLayout()
        self.draw_line_btn, self.draw_zone_btn = QPushButton("Draw line"), QPushButton("Draw zone")
        self.draw_line_btn.clicked.connect(lambda: self.view.start_drawing("line"))
        self.draw_zone_btn.clicked.connect(lambda: self.view.start_drawing("zone"))
        grid.addWidget(self.draw_line_btn, 0, 0)
        grid.addWidget(self.draw_zone_btn, 0, 1)
        lay.addLayout(grid)
        self.counter_list = QListWidget()
        self.counter_list.setFixedHeight(52)
        self.counter_list.setToolTip("double-click to rename (counts are kept)")
        self.counter_list.itemDoubleClicked.connect(self.rename_counter)
        lay.addWidget(self.counter_list)
        grid = QGridLayout()
        self.counter_buttons = {}
        for i, (text, slot) in enumerate((("Delete", self.delete_counter), ("Reset counts", self.reset_counts),
                                          ("Save…", self.save_counters), ("Load…", self.load_counters))):
            b = QPushButton(text)
            b.clicked.connect(lambda _=False, f=slot: f())
            grid.addWidget(b, i // 2, i % 2)
            self.counter_buttons[text] = b
        lay.addLayout(grid)
        self.count_label = QLabel("")
        self.count_label.setWordWrap(True)
        self.count_label.hide()  # an empty readout would still take a line
        lay.addWidget(self.count_label)
        self._fill_counters()
        return w

    def _folder_controls(self) -> QWidget:
        w = QWidget()
        grid = QGridLayout(w)
        grid.setContentsMargins(4, 0, 0, 0)
        self.folder_labels = {}
        for row, (kind, title) in enumerate((("snapshots", "Snapshots"), ("recordings", "Recordings"))):
            label = ElidedLabel()
            change = QPushButton("Change…")
            change.clicked.connect(lambda _=False, k=kind: self.choose_folder(k))
            grid.addWidget(QLabel(title), row, 0)
            grid.addWidget(label, row, 1)
            grid.addWidget(change, row, 2)
            grid.setColumnStretch(1, 1)
            self.folder_labels[kind] = label
        self._show_folders()
        return w

    def _show_folders(self) -> None:
        for kind, label in self.folder_labels.items():
            label.setText(str(self.folders.folder(kind)))
            label.setToolTip(str(self.folders.folder(kind)))

    def choose_folder(self, kind: str) -> None:
        folder = QFileDialog.getExistingDirectory(self, f"Folder for {kind}", str(self.folders.folder(kind)))
        if folder:
            self.folders.set(kind, folder)
            self._show_folders()




def _slider(low: int, high: int, value: float, slot):
    """A 0-1 value as a slider in hundredths, and the label that shows it."""
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    slider.setValue(round(value * 100))
    label = QLabel(f"{value:.2f}")
    label.setMinimumWidth(label.fontMetrics().horizontalAdvance("0.00") + 4)
    slider.valueChanged.connect(slot)
    return slider, label


def _beside(*widgets) -> QWidget:
    w = QWidget()
    row = QHBoxLayout(w)
    row.setContentsMargins(0, 0, 0, 0)
    for x in widgets:
        row.addWidget(x)
    return w
