"""``lookout models``, ``lookout cameras``, ``lookout convert``, ``lookout --version``."""
from __future__ import annotations

import argparse
import sys


def version_text() -> str:
    """This package and the runtimes it would use, read without importing them."""
    from importlib import metadata

    def v(dist: str) -> str:
        try:
            return metadata.version(dist)
        except metadata.PackageNotFoundError:
            return "not installed"
    parts = [f"{name} {v(dist)}" for name, dist in (("onnxruntime", "onnxruntime"), ("torch", "torch"),
                                                     ("PyAV", "av"), ("OpenCV", "opencv-python-headless"),
                                                     ("PyQt6", "PyQt6"))]
    return f"lookout {v('lookout')} (python {sys.version.split()[0]}; {'; '.join(parts)})"


def models_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="lookout models", description="The models Lookout names: architecture, "
                            "classes, size, licence, where the weights come from, and whether each works "
                            "offline now.").parse_args(argv)
    from detector.models.registry import model_table
    titles = {"detectors": "Detectors (--model NAME)", "classifiers": "Classifiers (--classifier NAME, with --classify)"}
    for k, (section, rows) in enumerate(model_table().items()):
        print(("\n" if k else "") + titles[section] + ":")
        for r in rows:
            print(f"  {r['name']}\n    {r['architecture']}; {r['classes']}; {r['size']}; licence {r['licence']}\n"
                  f"    weights: {r['weights']}\n    offline now: {r['offline']}")
    return 0


def cameras_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="lookout cameras", description="The capture devices present.").parse_args(argv)
    from detector.io.camera import describe_cameras, list_cameras
    print(describe_cameras(list_cameras()))
    return 0


def convert_main(argv: list[str]) -> int:
    from detector.convert.__main__ import main
    return main(argv, prog="lookout convert")
