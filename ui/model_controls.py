"""The window's model controls: the detector (model, device, confidence, NMS IoU), the classes it
keeps, and the scene classifier. Owns its widgets; acts on the selected stream's models (shared
detector swaps go through the session's loader, never on the GUI thread)."""
from __future__ import annotations

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (QComboBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QLineEdit, QListWidget,
                             QListWidgetItem, QPushButton, QSlider, QVBoxLayout, QWidget)

from detector.models.registry import DEFAULT_CLASSIFIER, KNOWN_MODELS


class ModelControls:
    def __init__(self, parent: QWidget, session, config, models):
        """``models()``: the selected stream's models (its class filter and classifier mode); the
        detector is every stream's. ``config``: the window's RunConfig (backend options, classifier)."""
        self.parent, self.session, self.config, self.models = parent, session, config, models
        self._shown_detector = models().detector

    # ---- the sections ------------------------------------------------------------------------------
    def detector_section(self) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 0, 0, 0)
        det = self.models().detector
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

    def classes_section(self) -> QWidget:
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
        self.fill_classes()
        self.classes.itemChanged.connect(self.on_classes)
        lay.addWidget(self.classes)
        return w

    def classifier_section(self, scene_bars: QWidget) -> QWidget:
        w = QWidget()
        form = QFormLayout(w)
        form.setContentsMargins(4, 0, 0, 0)
        self.classify_box = QComboBox()
        self.classify_box.addItems(["off", "frame", "boxes"])
        self.classify_box.setCurrentText(self.models().snapshot().classify)
        self.classify_box.activated.connect(self.on_classify)
        form.addRow("Classify", self.classify_box)
        form.addRow(scene_bars)
        return w

    # ---- showing the selected stream -------------------------------------------------------------
    def fill_classes(self) -> None:
        self.classes.blockSignals(True)
        self.classes.clear()
        models = self.models()
        keep = models.snapshot().classes
        for i, name in enumerate(models.detector.labels):
            if i == 0 or name.startswith("class_"):  # background, and ids COCO never used
                continue
            item = QListWidgetItem(name)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if keep is None or i in keep else Qt.CheckState.Unchecked)
            self.classes.addItem(item)
        self.classes.blockSignals(False)
        self.on_class_search(self.class_search.text())

    def follow_detector(self) -> None:
        """A detector swapped in by the loader: its label list."""
        if self.models().detector is not self._shown_detector:
            self._shown_detector = self.models().detector
            self.fill_classes()

    def show_stream(self, stream) -> None:
        """Another stream selected: its classes, classifier mode and threshold (showing them is not
        changing them: no signals)."""
        self.fill_classes()
        self.classify_box.blockSignals(True)
        self.classify_box.setCurrentText(self.models().snapshot().classify)
        self.classify_box.blockSignals(False)
        conf = stream.engine.min_score if stream is not None else None
        if conf is not None:
            self.conf.blockSignals(True)
            self.conf.setValue(round(conf * 100))
            self.conf.blockSignals(False)
            self.conf_label.setText(f"{conf:.2f}")

    # ---- controls ------------------------------------------------------------------------------
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

    def on_classes(self, _item=None) -> None:
        names = [self.classes.item(i).text() for i in range(self.classes.count())
                 if self.classes.item(i).checkState() == Qt.CheckState.Checked]
        self.models().set_classes(None if len(names) == self.classes.count() else names)  # all: no filter

    def on_conf(self, v: int) -> None:
        if self.session.focus is None:
            self.models().set_thresholds(conf=v / 100)
        self.session.set_conf(v / 100)  # the selected stream's; the shared detector runs at the lowest
        self.conf_label.setText(f"{v / 100:.2f}")

    def on_iou(self, v: int) -> None:
        self.models().set_thresholds(iou=v / 100)
        self.iou_label.setText(f"{v / 100:.2f}")

    def on_model(self, _index=None) -> None:
        name = self.model_box.currentText()
        if name == "Open…":
            name, _ = QFileDialog.getOpenFileName(self.parent, "Detector weights", "",
                                                  "Models (*.tflite *.pt *.pb *.tar.gz)")
            if not name:
                return
        device = self.device_box.currentText()
        self.session.load(name, lambda: self._load_detector(name, device), self.session.swap_detector)

    def on_device(self, _index=None) -> None:
        device = self.device_box.currentText()
        name = self.model_box.currentText() if self.model_box.currentText() != "Open…" else self.config.model
        self.session.load(f"{name} on {device}", lambda: self._load_detector(name, device),
                          self.session.swap_detector)

    def _load_detector(self, name: str, device: str):
        """The command line's loader with its backend options (--backend, --half): torch-free when it can."""
        from detector.engine.run import load_detector_for
        return load_detector_for(name, device, self.config)

    def on_classify(self, _index=None) -> None:
        mode = self.classify_box.currentText()
        models = self.models()  # the stream selected when it was asked for
        snap = models.snapshot()
        if mode == "off" or snap.classifier is not None:
            models.set_classify(mode)
            return
        from detector.engine.run import load_classifier_or_warn
        name = self.config.classifier or DEFAULT_CLASSIFIER
        device = snap.detector.device
        self.session.load(name, lambda: _require(load_classifier_or_warn(name, device, self.session.messages.put)),
                          lambda clf: models.set_classify(mode, clf), kind="classifier")


def _require(obj):
    if obj is None:
        raise ValueError("classifier unavailable (see the message above)")
    return obj


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
