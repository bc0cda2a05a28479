"""``lookout models``, ``lookout cameras``, ``lookout convert``, ``lookout --version``."""
from __future__ import annotations

import argparse
import os
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
    if argv[:1] == ["inspect"]:
        return inspect_main(argv[1:])
    argparse.ArgumentParser(prog="lookout models", description="The models Lookout names: architecture, "
                            "classes, size, licence, where the weights come from, and whether each works "
                            "offline now. lookout models inspect FILE: what Lookout reads in a model file.",
                            ).parse_args(argv)
    from detector.models.registry import model_table
    titles = {"detectors": "Detectors (--model NAME)", "classifiers": "Classifiers (--classifier NAME, with --classify)"}
    for k, (section, rows) in enumerate(model_table().items()):
        print(("\n" if k else "") + titles[section] + ":")
        for r in rows:
            print(f"  {r['name']}\n    {r['architecture']}; {r['classes']}; {r['size']}; licence {r['licence']}\n"
                  f"    weights: {r['weights']}\n    offline now: {r['offline']}")
    return 0


def inspect_main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="lookout models inspect",
                                 description="What Lookout understands of an ONNX detector file (its layout, input, "
                                             "preprocessing, labels and decoder) and how it maps a frame's boxes; a "
                                             "file it cannot run is refused in one line saying what to supply.")
    ap.add_argument("file", help="an .onnx detector (Lookout's own, or any exported detector; see docs/models.md)")
    ap.add_argument("--labels", metavar="FILE", help="class names, one a line, for a file that names none")
    ap.add_argument("--frame", default="768x576", metavar="WxH", help="the frame size to show the mapping for")
    args = ap.parse_args(argv)
    try:
        fw, fh = (int(v) for v in args.frame.lower().split("x"))
        if fw < 1 or fh < 1:
            raise ValueError
    except ValueError:
        raise ValueError(f"expected --frame WIDTHxHEIGHT in pixels, e.g. 1920x1080, got {args.frame!r}") from None
    if args.labels and not os.path.isfile(args.labels):
        raise ValueError(f"expected --labels to name a file of class names, one a line; {args.labels!r} is not a file")
    from detector.runtime.onnx.inspect import inspect_lines
    print("\n".join(inspect_lines(args.file, args.labels, (fh, fw))))
    return 0


def cameras_main(argv: list[str]) -> int:
    argparse.ArgumentParser(prog="lookout cameras", description="The capture devices present.").parse_args(argv)
    from detector.io.camera import describe_cameras, list_cameras
    print(describe_cameras(list_cameras()))
    return 0


def convert_main(argv: list[str]) -> int:
    from detector.convert.__main__ import main
    return main(argv, prog="lookout convert")
