"""Start the window: load the models, start the engine's live session, run the Qt event loop."""
from __future__ import annotations

import sys
from dataclasses import replace

from detector.engine.models import Models
from detector.engine.run import RunConfig, fresh_models, load_models, make_analytics
from detector.engine.live_session import LiveSession


def build_window(configs: RunConfig | list[RunConfig], models: Models | None = None, snapshot_dir: str | None = None,
                 record_dir: str | None = None, settings=None):
    """The window and its live session on the configs' sources, one stream each (one config with no
    source: the start view), not started: (window, session). The first config's options are the
    window's. Needs a QApplication. The one way the app, the benchmark, the screenshot tool and the
    tests make it. Folders: this run's (else the remembered ones); ``settings``: a QSettings."""
    from .main_window import MainWindow
    configs = [configs] if isinstance(configs, RunConfig) else list(configs)
    if configs[0].events:  # events are tracks confirmed over frames (as the command line's --events)
        from detector.engine.config import run_inputs
        from detector.events.store import check_events_dir
        check_events_dir(configs[0].events, [i for c in configs for i in run_inputs(c)])  # one line, before loading
        configs = [replace(c, track=True) for c in configs]
    config = configs[0]
    models = models or load_models(config, warn=lambda m: print(m, file=sys.stderr), throughput=False)  # live
    events = None
    if config.events:
        from detector.engine.live_events import LiveEvents
        if models.analytics is None:
            models.analytics = make_analytics(config)
        events = LiveEvents(config, warn=lambda m: print(m, file=sys.stderr))
    session = LiveSession(models, replace(config, source=None), events=events)
    if events is not None:  # its warnings (a folder that cannot be written) reach the status bar
        events.warn = session.messages.put
    several = len(configs) > 1
    for c in configs:
        if c.source:  # several: each stream its own tracker, counters and class filter over the shared models
            session.add_source(c, models=fresh_models(models, c) if several else models, focus=False)
    window = MainWindow(session, models, config, snapshot_dir=snapshot_dir, record_dir=record_dir, settings=settings)
    return window, session


def run_app(configs: RunConfig | list[RunConfig], argv: list[str] | None = None, snapshot_dir: str | None = None,
            record_dir: str | None = None) -> int:
    from PyQt6.QtWidgets import QApplication
    app = QApplication.instance() or QApplication(argv or sys.argv[:1])
    app.setApplicationName("Lookout")
    window, session = build_window(configs, snapshot_dir=snapshot_dir, record_dir=record_dir)
    session.start()
    window.show()
    try:
        return app.exec()
    finally:
        session.stop(timeout=2.0)
