"""The ``lookout`` script: the engine's command line (``detector.cli``) with this window for the runs
that show one. Importing it loads no Qt; the window's modules load only when a window opens."""
from __future__ import annotations

import os
import sys


def _open_window(configs) -> int:
    """``configs``: one RunConfig per stream; the first one's options are the window's."""
    from .app import run_app
    return run_app(configs, snapshot_dir=configs[0].snapshot_dir, record_dir=configs[0].record_dir)


def main(argv: list[str] | None = None) -> int:
    from detector.cli import main as cli_main
    return cli_main(argv, open_window=_open_window)


def cli() -> None:
    """Run, then leave without the interpreter's slow teardown of torch and ONNX Runtime thread pools
    (seconds here). Every output is closed and flushed by then."""
    rc = main()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(rc)
