"""Start the window: load the models, start the engine thread, run the Qt event loop."""
from __future__ import annotations

import sys

from detector.capture import CapturePolicy
from detector.run import RunConfig, is_live_spec, load_models, source_options

from .worker import EngineWorker


def viewer_policy(config: RunConfig) -> CapturePolicy:
    """The window always shows the newest frame; a file plays at its own rate unless --lossless."""
    live_source = is_live_spec(config.source)
    common = dict(loop=config.loop, reconnect_attempts=config.reconnect_attempts, source=source_options(config))
    if config.live is False:
        return CapturePolicy(live=False, **common)
    return CapturePolicy(live=True, play_realtime=not live_source, **common)


def run_app(config: RunConfig, argv: list[str] | None = None) -> int:
    from PyQt6.QtWidgets import QApplication

    from .main_window import MainWindow
    models = load_models(config, warn=lambda m: print(m, file=sys.stderr))
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Lookout")
    worker = EngineWorker(models, config.source, viewer_policy(config))
    window = MainWindow(worker, models, config)
    worker.start()
    window.show()
    try:
        return app.exec()
    finally:
        worker.stop(timeout=2.0)
