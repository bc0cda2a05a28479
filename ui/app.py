"""Start the window: load the models, start the engine's live session, run the Qt event loop."""
from __future__ import annotations

import sys

from detector.engine.capture import CapturePolicy
from detector.engine.pipeline import Models
from detector.engine.run import RunConfig, load_models, source_options
from detector.engine.session import LiveSession
from detector.io.sources import is_live_spec


def viewer_policy(config: RunConfig) -> CapturePolicy:
    """The window always shows the newest frame; a file plays at its own rate unless --lossless."""
    common = dict(loop=config.loop, reconnect_attempts=config.reconnect_attempts, source=source_options(config))
    if config.live is False:
        return CapturePolicy(live=False, **common)
    return CapturePolicy(live=True, play_realtime=bool(config.source) and not is_live_spec(config.source), **common)


def build_window(config: RunConfig, models: Models | None = None, snapshot_dir: str | None = None,
                 record_dir: str | None = None, settings=None):
    """The window and its live session on ``config.source`` (none: the start view), not started:
    (window, session). Needs a QApplication. The one way the app, the benchmark, the screenshot tool
    and the tests make it. Folders: this run's (else the remembered ones); ``settings``: a QSettings."""
    from .main_window import MainWindow
    models = models or load_models(config, warn=lambda m: print(m, file=sys.stderr), throughput=False)  # live
    session = LiveSession(models, config.source or None, viewer_policy(config))
    window = MainWindow(session, models, config, snapshot_dir=snapshot_dir, record_dir=record_dir, settings=settings)
    return window, session


def run_app(config: RunConfig, argv: list[str] | None = None, snapshot_dir: str | None = None,
            record_dir: str | None = None) -> int:
    from PyQt6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Lookout")
    window, session = build_window(config, snapshot_dir=snapshot_dir, record_dir=record_dir)
    session.start()
    window.show()
    try:
        return app.exec()
    finally:
        session.stop(timeout=2.0)
