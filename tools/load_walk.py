"""How a default start loads its detector: the time, the files read, and the walk through Lookout's
own code from the engine's ``load_models`` to the ONNX Runtime session.

    python tools/load_walk.py [--model NAME_OR_PATH] [--classify] [--classifier NAME_OR_PATH]

Prints one line each: seconds from ``load_models`` called to returned; files opened for reading
(count, bytes: their sizes on disk) during it; Lookout's source files entered on the way to the first
``InferenceSession`` (files whose functions ran, not those only imported) and the deepest nesting of Lookout's calls on that way (``load_models`` = 1);
and the path itself: the Lookout calls on the stack when the session is made (its files and levels),
what a reader follows from ``load_models`` to the session.
Run it twice and read the second (the first may fill the cache).
"""
from __future__ import annotations

import argparse
import inspect
import os
import sys
import time
from pathlib import Path

ROOT = Path(os.environ.get("LOOKOUT_ROOT") or Path(__file__).resolve().parent.parent)  # another checkout: A/B
sys.path.insert(0, str(ROOT))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="ssd-mobilenetv2-coco")
    parser.add_argument("--classify", action="store_true", help="load the default classifier too")
    parser.add_argument("--classifier", help="this classifier (name or file) instead of the default; implies --classify")
    args = parser.parse_args()
    from detector.engine.config import RunConfig
    from detector.engine.run import load_models

    opened: dict[str, int] = {}
    active = [False]

    def audit(event, payload):
        if active[0] and event == "open" and isinstance(payload[0], (str, bytes, os.PathLike)):
            mode = payload[1] if len(payload) > 1 else "r"
            if isinstance(mode, str) and ("w" in mode or "a" in mode or "x" in mode):
                return
            if isinstance(mode, int) and mode & (os.O_WRONLY | os.O_RDWR):
                return
            path = os.fsdecode(payload[0])
            if os.path.isfile(path):
                opened.setdefault(os.path.realpath(path), os.path.getsize(path))

    sys.addaudithook(audit)
    walk: list[str] = []
    depth = [0, 0]  # current Lookout nesting, deepest before the session
    pkg = str(ROOT / "detector")
    stop = [False]
    stacks: list[list[tuple[str, str]]] = []  # per session made: (file, function) of the Lookout calls on the stack

    def ours(frame) -> bool:
        """A function of Lookout's (not a module or class body run by an import)."""
        return frame.f_code.co_filename.startswith(pkg) and bool(frame.f_code.co_flags & inspect.CO_OPTIMIZED)

    def profile(frame, event, arg):
        if stop[0]:
            return
        if event == "call" and ours(frame):
            depth[0] += 1
            if frame.f_code.co_filename not in walk:
                walk.append(frame.f_code.co_filename)
            depth[1] = max(depth[1], depth[0])
        elif event == "return" and ours(frame):
            depth[0] -= 1
        elif event == "c_call" and getattr(arg, "__qualname__", "") == "InferenceSession.__init__":
            stop[0] = True

    import onnxruntime as ort
    orig = ort.InferenceSession.__init__

    def session_init(self, *a, **k):
        path = []  # every session's path (the detector's, then the classifier's with --classify)
        frame = sys._getframe(1)
        while frame is not None:
            if ours(frame):
                path.insert(0, (frame.f_code.co_filename, frame.f_code.co_name))
            frame = frame.f_back
        stacks.append(path)
        stop[0] = True
        return orig(self, *a, **k)

    ort.InferenceSession.__init__ = session_init
    config = RunConfig(source="assets/demo_vtest.mp4", model=args.model,
                       classify="frame" if args.classify or args.classifier else "off",
                       classifier=args.classifier)
    active[0] = True
    sys.setprofile(profile)
    t0 = time.perf_counter()
    models = load_models(config, warn=lambda *_: None)
    elapsed = time.perf_counter() - t0
    sys.setprofile(None)
    active[0] = False
    print(f"load_models: {elapsed:.3f} s, {type(models.detector).__name__}")
    print(f"files read: {len(opened)}, {sum(opened.values()) / 1e6:.2f} MB")
    data = {p: n for p, n in opened.items() if not p.endswith((".py", ".pyc", ".so"))}
    print(f"  of them not code (models, metadata, cache): {len(data)}, {sum(data.values()) / 1e6:.2f} MB")
    for path, size in sorted(opened.items(), key=lambda kv: -kv[1])[:8]:
        print(f"  {size:>10}  {path}")
    print(f"walk to the session: {len(walk)} Lookout files, {depth[1]} call levels")
    for fn in walk:
        print("  " + os.path.relpath(fn, ROOT))
    for what, stack in zip(("session", "classifier's session"), stacks):
        files = list(dict.fromkeys(f for f, _ in stack))
        print(f"path at the {what}: {len(files)} Lookout files, {len(stack)} call levels")
        print("  " + " -> ".join(f"{os.path.relpath(f, ROOT)}:{name}" for f, name in stack))


if __name__ == "__main__":
    main()
