"""A box's context menu in the video view: right-click a box, "Save crop to class…", and its crop
goes into a class folder, to train a model of your own classes (``lookout train``, docs/classify.md).

The crop is cut from the frame as the source gave it (not the drawing over it) exactly as
``lookout crops`` and ``--classify-labels`` cut boxes (the box and ``train.crops.MARGIN`` of its
size on each side), and named as ``lookout crops`` names them,
``<source>_<label>_t<track>_f<frame>.jpg`` (a number added where that name is taken: nothing is
overwritten). The class folders chosen are remembered for the session: the menu offers each again
("Save crop to 'delivery'"), and the chooser opens beside the last one, where its sibling classes are.
"""
from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QFileDialog, QMenu

from detector.engine.sub_labels import crop_box
from detector.train.crops import MARGIN, crop_name, source_stem
from detector.util.files import replace_bytes

from .output_folders import claim_fresh

RECENT = 5  # class folders the menu offers again


class CropMenu:
    """Installs itself on ``view`` (a ``VideoView``); ``say(text)`` reports a save or a failure (the
    window's status bar). ``choose_folder(start) -> str`` asks for a class folder ("" when cancelled);
    tests replace it."""

    def __init__(self, view, say=lambda text: None):
        self.view, self.say = view, say
        self.folders: list[Path] = []  # this session's class folders, the last chosen first
        self.choose_folder = lambda start: QFileDialog.getExistingDirectory(
            view, "Class folder for the crop (one folder per class)", start)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self._show)

    def box_at(self, pos: QPoint) -> int | None:
        """The index in the shown result's detections of the box under ``pos`` (widget pixels): the
        smallest box holding it, the one in front where boxes overlap; None where there is none."""
        if self.view.result is None or self.view.draw_mode is not None:
            return None
        xyxy = self.view.widget_boxes()
        x, y = pos.x(), pos.y()
        inside = np.flatnonzero((xyxy[:, 0] <= x) & (x <= xyxy[:, 2]) & (xyxy[:, 1] <= y) & (y <= xyxy[:, 3]))
        if not len(inside):
            return None
        areas = (xyxy[inside, 2] - xyxy[inside, 0]) * (xyxy[inside, 3] - xyxy[inside, 1])
        return int(inside[np.argmin(areas)])

    def menu_at(self, pos: QPoint) -> QMenu | None:
        """The menu for the box under ``pos``, not shown (None where there is no box)."""
        i = self.box_at(pos)
        if i is None:
            return None
        result = self.view.result  # the frame shown now: the menu keeps it, whatever comes next
        menu = QMenu(self.view)
        label = result.detections.labels[i]
        menu.addSection(f"{label} {result.detections.scores[i]:.2f}")
        menu.addAction("Save crop to class…", lambda: self._save_chosen(result, i))
        for folder in self.folders:
            menu.addAction(f"Save crop to '{folder.name}'", lambda f=folder: self.save(result, i, f))
        return menu

    def _show(self, pos: QPoint) -> None:
        menu = self.menu_at(pos)
        if menu is not None:
            menu.exec(self.view.mapToGlobal(pos))

    def _save_chosen(self, result, i: int) -> None:
        start = str(self.folders[0].parent) if self.folders else ""
        chosen = self.choose_folder(start)
        if chosen:
            self.save(result, i, Path(chosen))

    def save(self, result, i: int, folder: Path) -> Path | None:
        """Box ``i`` of ``result`` cut as ``lookout crops`` cuts it, as JPEG in ``folder`` (made if
        missing), under a name no file has; the folder goes to the front of the remembered ones. None
        (and a line to ``say``) for a class the window blurs, a box too small, a folder not writable."""
        label = result.detections.labels[i]
        if label in self.view.annotation.blur.classes:  # the frame's own pixels would show what --blur hides
            self.say(f"{label} boxes are blurred (--blur): their crops are not saved")
            return None
        image = result.frame.image
        h, w = image.shape[:2]
        box = crop_box(result.detections.xyxy[i], w, h, MARGIN)
        if box is None:
            self.say("this box is too small to crop")
            return None
        dets = result.detections
        track = int(dets.track_ids[i]) if dets.track_ids is not None and dets.track_ids[i] >= 0 else 0
        name = crop_name(result.frame.stream or source_stem(result.frame.source), label, track, result.frame.index)
        ok, jpg = cv2.imencode(".jpg", image[box[1]:box[3], box[0]:box[2]], [cv2.IMWRITE_JPEG_QUALITY, 95])
        path = None
        try:
            if not ok:
                raise OSError("the crop could not be encoded as JPEG")
            path = claim_fresh(folder, name[:-4], ".jpg")  # the name held by an empty file ...
            replace_bytes(path, jpg.tobytes())  # ... replaced whole: never a half-written crop
        except OSError as e:
            if path is not None:
                path.unlink(missing_ok=True)  # the name this save claimed, empty
            self.say(f"cannot save the crop in {folder}: {e.strerror or e}")
            return None
        self.folders = [folder] + [f for f in self.folders if f != folder][:RECENT - 1]
        self.say(f"crop saved to {path}")
        return path
