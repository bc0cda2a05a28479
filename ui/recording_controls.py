"""Snapshots and recordings from the window: the folders they go to (a side-panel section), the
snapshot of the frame on show, recording the selected stream on and off, and the notice that says
where a file went. Owns the folders and the notice."""
from __future__ import annotations

import time
from pathlib import Path

import cv2
from PyQt6.QtWidgets import QFileDialog, QGridLayout, QLabel, QPushButton, QWidget

from detector.util.files import part_path

from .notice import ElidedLabel, SavedNotice
from .output_folders import OutputFolders, claim_fresh


class RecordingControls:
    def __init__(self, parent: QWidget, session, view, settings, snapshot_dir: str | None, record_dir: str | None,
                 blur, say):
        """``view``: the big view (a snapshot saves what it shows); ``snapshot_dir`` / ``record_dir``:
        this run's folders, else the remembered ones; ``blur``: --blur for recordings; ``say(text,
        ms)``: the status bar."""
        self.parent, self.session, self.view, self.blur, self.say = parent, session, view, blur, say
        self.folders = OutputFolders(settings, snapshot_dir, record_dir)
        self.notice = SavedNotice()
        self.act_record = None  # the Record action, checked while recording (the window sets it)

    def section(self) -> QWidget:
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
        folder = QFileDialog.getExistingDirectory(self.parent, f"Folder for {kind}", str(self.folders.folder(kind)))
        if folder:
            self.folders.set(kind, folder)
            self._show_folders()

    def _saved(self, what: str, path: Path) -> None:
        self.say(f"{what} {path}", 10000)
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
            self.say(f"cannot save a snapshot in {folder}: {e.strerror or e}", 10000)
            return None
        self._saved("snapshot saved to", path)
        return path

    def toggle_record(self) -> None:
        if self.session.recording:
            path = self.session.stop_recording()  # finished off this thread; a message says when saved
            self.say(f"finishing recording {path}…", 8000)
            self.act_record.setChecked(False)
            return
        folder = self.folders.folder("recordings")
        try:
            # the encoder writes the partial file the name is held by, and renames it when done
            path = claim_fresh(folder, f"lookout_{time.strftime('%Y%m%d_%H%M%S')}", ".mp4", reserve=part_path)
        except OSError as e:
            self.act_record.setChecked(False)
            self.say(f"cannot record in {folder}: {e.strerror or e}", 10000)
            return
        try:
            self.session.start_recording(str(path), self.blur)
        except ValueError as e:
            part_path(path).unlink(missing_ok=True)
            self.act_record.setChecked(False)
            self.say(str(e), 10000)
            return
        self.act_record.setChecked(True)
        self._saved("recording to", path)
