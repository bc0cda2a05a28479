"""The window shows --state regions: each region's outline and "name: state score" over the video,
as the outputs draw them, following the state as it changes (a model trained on vtest.avi,
state_model.py, on a clip of people crossing the region)."""
from __future__ import annotations

import numpy as np
import pytest

from state_model import ROAD
from window_helpers import grab_pixels, no_thread_left

ORANGE_RGB = (255, 165, 0)  # StateAnnotator.COLOUR, BGR (0, 165, 255)


def _orange(rgb: np.ndarray) -> np.ndarray:
    return np.all(np.abs(rgb.astype(int) - ORANGE_RGB) <= 40, axis=-1)


@pytest.mark.slow  # training the model (once a session, shared with test_train) takes about 45 s
def test_window_draws_state_regions_and_their_current_state(qtbot, tmp_path, road_model, road_sets):
    from PyQt6.QtCore import QSettings

    from detector.engine.run import RunConfig
    from detector.ops.text import TextStyle
    from lookout_ui.app import build_window
    model, _ = road_model
    root, _ = road_sets
    config = RunConfig(source=str(root / "road_clip.avi"), loop=True, states=(("road", ROAD, str(model)),))
    with no_thread_left():
        # the models as the app loads them from the config (the --state watchers with them)
        win, session = build_window(config, snapshot_dir=str(tmp_path / "s"), record_dir=str(tmp_path / "r"),
                                    settings=QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        qtbot.addWidget(win)
        session.start()
        win.show()
        seen = {}

        def shown_states():  # each state the view showed, with its drawn frame and what the screen showed
            r = win.view.result
            if r is not None and r.states and r.states[0].state not in seen:
                win.view.repaint()
                seen[r.states[0].state] = (r.states[0], win.view.drawn.copy(), r.frame.image.copy(),
                                           grab_pixels(win.view), win.view.frame_rect())
            return {"empty", "occupied"} <= set(seen)
        # the clip's region is empty from its first frames and occupied from frame 28 on (test_train)
        qtbot.waitUntil(shown_states, timeout=60000)
        win.close()
    x1, y1, x2, y2 = ROAD
    style = TextStyle.for_frame(576, 768, 0.7)
    for name, (st, drawn, raw, screen, rect) in seen.items():
        assert st.box == ROAD and st.name == "road"
        rgb = drawn[..., ::-1]
        # the outline: orange round the region, where the raw frame is not
        edges = np.concatenate([rgb[y1 + 1, x1:x2], rgb[y2 - 2, x1:x2], rgb[y1:y2, x1 + 1], rgb[y1:y2, x2 - 2]])
        assert _orange(edges).mean() > 0.9, name  # drawn over the boxes and labels
        raw_edges = np.concatenate([raw[y1 + 1, x1:x2], raw[y1:y2, x1 + 1]])[..., ::-1]
        assert _orange(raw_edges).mean() < 0.1
        # the caption "road: <state> <score>" ("road: ?" before a first state has held) on the top
        # edge: an orange band as wide as that text
        text = f"road: {st.state} {st.score:.2f}" if st.state else "road: ?"
        tw, th = style.size(text)
        band = _orange(rgb[y1 - th + 1, x1:x1 + tw + 20])
        assert band[:tw - 2].mean() > 0.6 and not band[tw + 2:].any(), (text, band.mean())  # ink is dark
        # on the screen: the outline scaled into the widget, over the video
        s = rect.width() / 768
        sy, sx = int(rect.y() + (y1 + y2) / 2 * s), int(rect.x() + x1 * s)
        assert _orange(screen[sy, sx - 3:sx + 4]).any(), name
    # the caption follows the state: a different text, a different band
    assert style.size(f"road: empty {seen['empty'][0].score:.2f}") != style.size(
        f"road: occupied {seen['occupied'][0].score:.2f}")
