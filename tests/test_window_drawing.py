"""One renderer (issue #34): the window's video is the frame as the outputs draw it (ops.draw's
Annotation, label layout included), so the screen, a snapshot and a recording of the same moment
show the same labels in the same places, none overlapping. The real window on the demo clip, with
tracking on (the captions with track IDs are the ones that used to overlap on screen)."""
from __future__ import annotations

import os

import cv2
import numpy as np

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from window_helpers import DEMO_CLIP, next_results, no_thread_left, open_window  # noqa: E402,F401


def test_the_window_shows_what_the_outputs_draw_with_no_label_over_another(qtbot, tmp_path):
    from detector.ops.draw import annotate
    from detector.ops.label_layout import overlapping_pairs
    with no_thread_left():
        win = open_window(qtbot, tmp_path, str(DEMO_CLIP))
        win.counters.track_box.setChecked(True)
        qtbot.waitUntil(lambda: win.view.result.detections.track_ids is not None, timeout=20000)
        _check(qtbot, win, annotate, overlapping_pairs)


def _check(qtbot, win, annotate, overlapping_pairs) -> None:
    try:
        shown, pairs, labels = 0, 0, 0
        while shown < 20:
            result = next_results(qtbot, win, 1)
            view = win.view
            # the very pixels an --output video gets for this result (same renderer, same layout)
            drawn = annotate(result.frame.image, result.detections, analytics=result.analytics)
            assert np.array_equal(view.drawn, drawn)
            assert not np.array_equal(view.drawn, result.frame.image)  # drawn on a copy, not on the frame
            pairs += overlapping_pairs(view.label_rects)
            labels += len(view.label_rects)
            shown += 1
        assert result.detections.track_ids is not None
        assert labels >= 20 * 2 and pairs == 0  # people on every frame of the clip; no label over another
        path = win.recording.snapshot()  # what the screen shows, saved
        assert np.array_equal(cv2.imread(str(path)), win.view.drawn)
        win.toggle_tracks()  # track IDs off: drawn again at once, without them (the shown result kept)
        assert win.view.result is result and not np.array_equal(win.view.drawn, drawn)
    finally:
        win.close()
