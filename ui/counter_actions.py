"""Tracking and counting from the window: lines and zones drawn, renamed, deleted, saved, loaded.
A mixin of MainWindow; all on the GUI thread (quick, no I/O but the user's own counters file)."""
from __future__ import annotations

from dataclasses import replace

from PyQt6.QtWidgets import QFileDialog, QInputDialog


class CounterActions:
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
        """A label change: the counts stay (Reset counts is its own button)."""
        old = item.text().split(" ", 1)[0]
        name, ok = QInputDialog.getText(self, "Rename", "Name (the counts are kept):", text=old)
        name = name.strip()
        if ok and name and name != old:
            if " " in name:
                self.statusBar().showMessage("a line or zone name has no spaces (it is used in --line NAME=…)",
                                             8000)
                return
            try:
                self._analytics().rename(old, name)
            except ValueError as e:
                self.statusBar().showMessage(str(e), 8000)
            self._fill_counters()

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
