"""The real window for the window tests: on a real source and model, with its own settings file and
output folders under tmp_path, and a check that closing it leaves no thread behind."""
from __future__ import annotations

import contextlib
import threading
import time

import pytest

from conftest import DEMO_CLIP  # noqa: F401  (re-exported for the tests)


def open_window(qtbot, tmp_path, source: str | None, model: str = "ssdlite-mobilenetv2-person", frames: int = 2,
                **config):
    """The window on ``source`` (None: no source), shown; past ``frames`` results when > 0.
    ``config``: more RunConfig fields."""
    from detector.engine.run import RunConfig
    win = _shown(qtbot, tmp_path, RunConfig(**{"source": source, "loop": True, **config}), model)
    if frames:
        qtbot.waitUntil(lambda: win.shown_seq >= frames, timeout=20000)
    return win


def _shown(qtbot, tmp_path, config, model: str):
    """The window on ``config`` (one RunConfig or a list), with its own settings file and output
    folders under tmp_path, started and shown."""
    from PyQt6.QtCore import QSettings

    from detector import Detector
    from detector.engine.models import Models
    from lookout_ui.app import build_window
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    win, session = build_window(config, Models(Detector.load(model, device="cpu")),
                                snapshot_dir=str(tmp_path / "snapshots"), record_dir=str(tmp_path / "recordings"),
                                settings=settings)
    qtbot.addWidget(win)
    session.start()
    win.show()
    win.activateWindow()  # shortcuts go to the active window
    return win


@contextlib.contextmanager
def no_thread_left():
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 30  # a wait that ends as soon as they are gone, not a bound on a busy machine
    while time.monotonic() < deadline and {t.ident for t in threading.enumerate()} - before:
        time.sleep(0.05)
    left = [t.name for t in threading.enumerate() if t.ident not in before]
    assert not left, f"threads left after close: {left}"


def next_results(qtbot, win, n: int = 1):
    seq = win.shown_seq
    qtbot.waitUntil(lambda: win.shown_seq >= seq + n, timeout=20000)
    return win.view.result


def open_grid(qtbot, tmp_path, sources: list[tuple[str, str]], model: str = "ssdlite-mobilenetv2-person",
              frames: int = 1, **config):
    """The window on several named streams ``[(name, source), ...]``, one RunConfig each as the
    command line makes them, shown; every tile past ``frames`` results when > 0."""
    from detector.engine.run import RunConfig
    win = _shown(qtbot, tmp_path, [RunConfig(source=src, stream=name, loop=True, **config) for name, src in sources],
                 model)
    if frames:
        qtbot.waitUntil(lambda: len(win.streams.grid.tiles) == len(sources)
                        and all(t.seq >= frames for t in win.streams.grid.tiles), timeout=30000)
    return win


def tile_results(qtbot, win, n: int = 1) -> dict:
    """Each tile's result once every tile has shown ``n`` more: {stream name: Result}."""
    seqs = {id(t): t.seq for t in win.streams.grid.tiles}
    qtbot.waitUntil(lambda: all(t.seq >= seqs.get(id(t), 0) + n for t in win.streams.grid.tiles), timeout=30000)
    return {t.stream.name: t.result for t in win.streams.grid.tiles}


def grab_pixels(widget):
    """The widget as painted: an HxWx3 RGB array."""
    import numpy as np
    img = widget.grab().toImage()
    img = img.convertToFormat(img.Format.Format_RGB888)
    ptr = img.constBits()
    ptr.setsize(img.sizeInBytes())
    rows = np.frombuffer(ptr, np.uint8).reshape(img.height(), img.bytesPerLine())
    return rows[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


@pytest.fixture()
def window(qtbot, tmp_path):
    """The window on the demo clip, past its first results; closed after the test with no thread left."""
    with no_thread_left():
        win = open_window(qtbot, tmp_path, str(DEMO_CLIP))
        yield win
        win.close()
