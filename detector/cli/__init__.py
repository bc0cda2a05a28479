"""Lookout's command line: one parser per subcommand, sharing the option groups in ``options``.

    lookout [--source S] [...]            one source: the window, or files (run_cmd)
    lookout batch INPUT... --out DIR      many inputs (batch_cmd)
    lookout models | cameras | convert    what Lookout names, what is attached, model conversion (info_cmd)
    lookout train DATA --out FILE.onnx     a classifier of your own classes (train_cmd)
    lookout crops SOURCE --label L --out DIR   crops of tracked objects to train it on (crops_cmd)

The engine has no window: the entry point that has one (``lookout_ui.launch``, the installed
``lookout`` script) passes ``open_window``, so imports still flow one way.
"""
from __future__ import annotations

import sys
from typing import Callable


def main(argv: list[str] | None = None, open_window: Callable | None = None) -> int:
    """Run the command line; returns the exit code (0 done, 1 failed part-way, 2 bad input, 130 stopped)."""
    from detector.runtime.host import tune_process
    tune_process()  # before torch / ONNX Runtime load: see there
    argv = sys.argv[1:] if argv is None else list(argv)
    from detector.cli import batch_cmd, crops_cmd, events_cmd, info_cmd, recover_cmd, run_cmd, train_cmd
    commands = {"batch": batch_cmd.batch_main, "models": info_cmd.models_main, "cameras": info_cmd.cameras_main,
                "convert": info_cmd.convert_main, "events": events_cmd.events_main, "recover": recover_cmd.recover_main,
                "train": train_cmd.train_main, "crops": crops_cmd.crops_main}
    try:
        if argv[:1] and argv[0] in commands:
            return commands[argv[0]](argv[1:])
        return run_cmd.run_main(argv, open_window)
    except KeyboardInterrupt:
        print("lookout: interrupted", file=sys.stderr)
        return 130
    except ValueError as e:  # user errors: bad source, output, model, option
        print(f"lookout: error: {e}", file=sys.stderr)
        return 2
