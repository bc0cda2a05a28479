"""Tracking and counting from the window: lines and zones drawn, renamed, deleted, saved, loaded,
and the counts read out. Owns its widgets; acts on the selected stream's analytics. All on the GUI
thread (quick, no I/O but the user's own counters file)."""
from __future__ import annotations

from dataclasses import replace

from PyQt6.QtWidgets import (QCheckBox, QFileDialog, QGridLayout, QInputDialog, QLabel, QListWidget, QPushButton,
                             QVBoxLayout, QWidget)


class CounterControls:
    def __init__(self, parent: QWidget, config, models, view, say):
        """``models()``: the selected stream's models; ``view``: the video, where lines and zones are
        drawn; ``say(text, ms)``: the status bar."""
        self.parent, self.config, self.models, self.view, self.say = parent, config, models, view, say

    def section(self) -> QWidget:
        w = QWidget()
        lay = QVBoxLayout(w)
        lay.setContentsMargins(4, 0, 0, 0)
        self.track_box = QCheckBox("Track objects (IDs, trails)")
        self.track_box.setChecked(self.models().analytics is not None)
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
        self.fill()
        return w

    def lock_tracking(self, why: str) -> None:
        """Tracking stays on (--events records confirmed tracks)."""
        self.track_box.setEnabled(False)
        self.track_box.setToolTip(why)

    # ---- showing ---------------------------------------------------------------------------------
    def show_result(self, result) -> None:
        """The counts of the result on show (none while tracking is off)."""
        if result.analytics is None:
            self.count_label.hide()
            return
        from detector.ops.draw import count_lines
        text = "\n".join(count_lines(result.analytics))
        self.count_label.setText(text)
        self.count_label.setVisible(bool(text))

    def show_stream(self) -> None:
        """Another stream selected: its tracking state and counters (showing is not changing)."""
        self.track_box.blockSignals(True)
        self.track_box.setChecked(self.models().analytics is not None)
        self.track_box.blockSignals(False)
        self.fill()

    def fill(self) -> None:
        from detector.analytics.counting import Line
        self.counter_list.clear()
        a = self.models().analytics
        for c in (a.counters if a is not None else []):
            self.counter_list.addItem(f"{c.name} ({'line' if isinstance(c, Line) else 'zone'})")

    # ---- controls --------------------------------------------------------------------------------
    def analytics(self):
        """The stream's analytics, created on first use (tracking on)."""
        models = self.models()
        if models.analytics is None:
            from detector.engine.config import make_analytics
            models.analytics = make_analytics(replace(self.config, track=True))
            self.track_box.setChecked(True)
        return models.analytics

    def on_track(self, on: bool) -> None:
        if on:
            self.analytics()
        else:
            self.models().analytics = None
            self.fill()

    def set_counters(self, counters) -> None:
        try:
            self.analytics().set_counters(counters)
        except ValueError as e:
            self.say(str(e), 8000)
        self.fill()

    def add_counter(self, counter) -> None:
        """A line or zone drawn on the video, named line<N> / zone<N>."""
        from detector.analytics.counting import Line, Zone
        existing = self.analytics().counters
        kind = "line" if isinstance(counter, Line) else "zone"
        n = 1 + sum(1 for c in existing if isinstance(c, Line) == (kind == "line"))
        names = {c.name for c in existing}
        while f"{kind}{n}" in names:
            n += 1
        named = Line(f"{kind}{n}", counter.p1, counter.p2) if kind == "line" else Zone(f"{kind}{n}", counter.points)
        self.set_counters(existing + [named])

    def rename_counter(self, item) -> None:
        """A label change: the counts stay (Reset counts is its own button)."""
        old = item.text().split(" ", 1)[0]
        name, ok = QInputDialog.getText(self.parent, "Rename", "Name (the counts are kept):", text=old)
        name = name.strip()
        if ok and name and name != old:
            if " " in name:
                self.say("a line or zone name has no spaces (it is used in --line NAME=…)", 8000)
                return
            try:
                self.analytics().rename(old, name)
            except ValueError as e:
                self.say(str(e), 8000)
            self.fill()

    def delete_counter(self) -> None:
        item = self.counter_list.currentItem()
        analytics = self.models().analytics
        if item is not None and analytics is not None:
            old = item.text().split(" ", 1)[0]
            self.set_counters([c for c in analytics.counters if c.name != old])

    def reset_counts(self) -> None:
        if self.models().analytics is not None:
            self.models().analytics.reset_counts()

    def save_counters(self) -> None:
        from detector.analytics.counting import save_counters
        analytics = self.models().analytics
        if analytics is None or not analytics.counters:
            self.say("no lines or zones to save", 5000)
            return
        path, _ = QFileDialog.getSaveFileName(self.parent, "Save lines and zones", "counters.json", "JSON (*.json)")
        if path:
            save_counters(path, analytics.counters)
            self.say(f"saved {path} (load it with --counters {path})", 8000)

    def load_counters(self, path: str | None = None) -> None:
        from detector.analytics.counting import load_counters
        if not path:
            path, _ = QFileDialog.getOpenFileName(self.parent, "Load lines and zones", "", "JSON (*.json)")
        if path:
            try:
                self.set_counters(load_counters(path))
            except ValueError as e:
                self.say(str(e), 8000)
