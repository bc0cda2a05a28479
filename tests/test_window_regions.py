"""The window on a 1080p camera-sized clip looks through regions and shows them on G, in the big view
and on the tiles of several streams."""
from __future__ import annotations

import cv2
import numpy as np

from conftest import DEMO_CLIP, read_all_frames
from window_helpers import grab_pixels, next_results, no_thread_left, open_grid, open_window, tile_results


def _big_clip(tmp_path):
    src = tmp_path / "big.avi"
    writer = cv2.VideoWriter(str(src), cv2.VideoWriter_fourcc(*"MJPG"), 10, (1920, 1080))
    for f in read_all_frames(DEMO_CLIP)[:20]:
        big = np.zeros((1080, 1920, 3), np.uint8)
        big[252:828, 576:1344] = f
        writer.write(big)
    writer.release()
    return src


def _painted(pixels, rgb) -> int:
    return int(np.all(np.abs(pixels.astype(int) - list(rgb)) <= 10, axis=2).sum())


def test_window_looks_through_regions_and_draws_them_on_g(qtbot, tmp_path):
    src = _big_clip(tmp_path)
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
        hit, before = _painted(with_regions, (r, g, b)), _painted(without, (r, g, b))
        assert hit > before + 100, (hit, before)
        win.close()


def test_g_draws_the_regions_on_every_tile_of_several_streams(qtbot, tmp_path):
    """Two streams in tiles: G outlines each tile's regions (``grid:2x1``: the whole frame and its
    1080 px tiles, grey), and a tile that comes after G draws them too."""
    src = _big_clip(tmp_path)
    with no_thread_left():
        win = open_grid(qtbot, tmp_path, [("one", str(src)), ("two", str(src))], model="ssd-mobilenetv2-coco",
                        regions="grid:2x1")
        results = tile_results(qtbot, win)
        assert all(len(r.regions) >= 3 and {x.kind for x in r.regions} == {"full", "grid"} for r in results.values())
        grey = win.view.REGION_COLOURS["grid"]
        before = {t.stream.name: _painted(grab_pixels(t), grey) for t in win.streams.grid.tiles}
        win.toggle_regions()
        for t in win.streams.grid.tiles:
            t.repaint()
            assert t.show_regions and _painted(grab_pixels(t), grey) > before[t.stream.name] + 50, t.stream.name
        assert win.streams._make_tile(win.streams.grid.tiles[0].stream).show_regions
        win.close()
