"""Right-click a box in the window's video, "Save crop to class…": the crop of the frame as the
source gave it, cut and named as ``lookout crops`` does, in the class folder chosen; the folders
chosen are offered again for the rest of the session, and nothing is overwritten."""
from __future__ import annotations

import cv2
import numpy as np

from window_helpers import DEMO_CLIP, no_thread_left, open_window


def test_a_box_context_menu_saves_its_crop_into_a_class_folder(qtbot, tmp_path):
    from PyQt6.QtCore import QPoint, Qt

    from detector.engine.sub_labels import crop_box
    from detector.train.crops import MARGIN
    classes = tmp_path / "classes"
    asked = []
    with no_thread_left():
        win = open_window(qtbot, tmp_path, str(DEMO_CLIP), frames=2)
        win.counters.track_box.setChecked(True)  # tracking on, as the panel's box turns it on

        def person_to_click() -> bool:  # a person tracked and big enough to click
            d = win.view.result.detections
            return d.track_ids is not None and any(lab == "person" and t >= 0 and (b[3] - b[1]) > 60
                                                   for b, lab, t in zip(d.xyxy, d.labels, d.track_ids))
        qtbot.waitUntil(person_to_click, timeout=30000)
        assert win.view.contextMenuPolicy() == Qt.ContextMenuPolicy.CustomContextMenu
        menus = win.crop_menu
        menus.choose_folder = lambda start: asked.append(start) or str(classes / "visitor")
        result = win.view.result  # no events are processed below: the view keeps this result
        d = result.detections
        i = next(k for k in range(len(d)) if d.labels[k] == "person" and d.track_ids[k] >= 0
                 and (d.xyxy[k, 3] - d.xyxy[k, 1]) > 60)
        wx1, wy1, wx2, wy2 = win.view.widget_boxes()[i]
        # the box's lower part: away from its label, and from any other box's where it can be
        point = QPoint(int((wx1 + wx2) / 2), int(wy1 + (wy2 - wy1) * 0.75))
        j = menus.box_at(point)
        assert j is not None and d.labels[j] == "person"
        menu = menus.menu_at(point)
        texts = [a.text() for a in menu.actions() if not a.isSeparator()]
        assert "Save crop to class…" in texts and not any("'" in t for t in texts)  # no class folder yet
        next(a for a in menu.actions() if a.text() == "Save crop to class…").trigger()
        assert asked == [""]
        saved = sorted((classes / "visitor").iterdir())
        assert len(saved) == 1
        # named as lookout crops names them, for the box clicked, on the frame shown
        stem, label, t, f = saved[0].stem.rsplit("_", 3)
        assert (stem, label) == ("demo_vtest", "person")
        assert (int(t[1:]), int(f[1:])) == (int(d.track_ids[j]), result.frame.index)
        x1, y1, x2, y2 = crop_box(d.xyxy[j], 768, 576, MARGIN)
        crop = cv2.imread(str(saved[0]))
        assert crop.shape[:2] == (y2 - y1, x2 - x1)
        # the source's pixels (JPEG-close), not the drawing over them (the box outline and label)
        raw, drawn = result.frame.image[y1:y2, x1:x2], win.view.drawn[y1:y2, x1:x2]
        assert np.abs(crop.astype(int) - raw).mean() < 3 < np.abs(crop.astype(int) - drawn).mean()
        # the folder is offered again; the chooser opens beside it; the same crop again gets a new name
        menu = menus.menu_at(point)
        again = next(a for a in menu.actions() if a.text() == "Save crop to 'visitor'")
        again.trigger()
        names = [p.name for p in (classes / "visitor").iterdir()]
        assert sorted(names) == sorted([saved[0].name, saved[0].stem + "-1.jpg"])
        assert cv2.imread(str(saved[0])).shape == crop.shape  # the first untouched
        menus.choose_folder = lambda start: asked.append(start) or ""  # cancelled: nothing saved
        next(a for a in menus.menu_at(point).actions() if a.text() == "Save crop to class…").trigger()
        assert asked == ["", str(classes)] and len(list(classes.rglob("*.jpg"))) == 2
        # a class the window blurs (--blur): its crop would show what the blur hides, so none is saved
        said = []
        menus.say = said.append
        win.view.set_blur({"person"})
        assert menus.save(result, j, classes / "visitor") is None and "blurred" in said[-1]
        assert len(list(classes.rglob("*.jpg"))) == 2
        # away from every box: no menu
        boxes = win.view.widget_boxes()
        empty = next(QPoint(x, y) for y in range(5, win.view.height(), 10) for x in range(5, win.view.width(), 10)
                     if not ((boxes[:, 0] <= x) & (x <= boxes[:, 2]) & (boxes[:, 1] <= y) & (y <= boxes[:, 3])).any())
        assert menus.menu_at(empty) is None
        win.close()
