"""The window on a 1080p camera-sized clip looks through regions and shows them on G."""
from __future__ import annotations

import cv2
import numpy as np

from conftest import DEMO_CLIP, read_all_frames
from window_helpers import grab_pixels, next_results, no_thread_left, open_window


def test_window_looks_through_regions_and_draws_them_on_g(qtbot, tmp_path):
    src = tmp_path / "big.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1920, 1080))
    for f in read_all_frames(DEMO_CLIP)[:20]:
        big = np.zeros((1080, 1920, 3), np.uint8)
        big[252:828, 576:1344] = f
        writer.write(big)
    writer.release()
    with no_thread_left():
        win = open_window(qtbot, tmp_path, str(src), model="ssd-mobilenetv2-coco")
        result = next_results(qtbot, win)
        while not result.regions:  # a frame the detector saw (every one here; motion gating is off)
            result = next_results(qtbot, win)
        assert all(r.width == r.height >= 300 for r in result.regions if r.kind != "full")
        assert (result.detections.class_ids == 1).sum() >= 3  # small people found, as the regions see them
        win.view.repaint()
        without = grab_pixels(win.view)
        assert not win.view.show_regions
        win.toggle_regions()
        win.view.repaint()
        with_regions = grab_pixels(win.view)
        # the regions' outlines are painted in their colours over the video
        r, g, b = win.view.REGION_COLOURS["object" if any(x.kind == "object" for x in win.view.result.regions)
                                          else win.view.result.regions[-1].kind]
        hit = np.all(np.abs(with_regions.astype(int) - [r, g, b]) <= 10, axis=2).sum()
        before = np.all(np.abs(without.astype(int) - [r, g, b]) <= 10, axis=2).sum()
        assert hit > before + 100, (hit, before)
        win.close()
