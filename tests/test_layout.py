"""The package's layers, read from its own source: imports flow one way, the engine never imports
Qt, the public names stay where users import them from."""
from __future__ import annotations

import ast
import subprocess
import sys

import pytest

from conftest import ROOT

# Lowest first: a module may import from its own layer and the layers before it.
LAYERS = ["util", "types", "ops", "models", "convert", "analytics", "io", "events", "runtime", "engine", "batch", "cli"]


def _imports(path):
    """(line, module) of each ``from detector.X import`` outside ``if TYPE_CHECKING:`` blocks."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            typing_only.update(id(n) for b in node.body for n in ast.walk(b))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and id(node) not in typing_only:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import) and id(node) not in typing_only:
            for alias in node.names:
                yield node.lineno, alias.name


def test_imports_flow_one_way_through_the_layers():
    pkg = ROOT / "detector"
    folders = sorted(p.name for p in pkg.iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(LAYERS), "a new folder needs its place in LAYERS"
    upward = []
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).parts
        if len(rel) == 1 or path.name == "__main__.py":  # the package's front door, command entry points
            continue
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] in ("ui", "lookout_ui", "PyQt6", "main"):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            elif parts[0] == "detector" and len(parts) > 1 and parts[1] in LAYERS \
                    and LAYERS.index(parts[1]) > LAYERS.index(rel[0]):
                upward.append(f"{path.relative_to(ROOT)}:{line} ({rel[0]}) imports {module}")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


@pytest.mark.slow
def test_public_names_and_a_torch_free_engine_import():
    """``from detector import ...`` keeps working, and importing the engine loads neither torch nor Qt
    (the command line's torch-free start depends on it)."""
    code = ("import sys; import detector.engine.run, detector.engine.session; "
            "print('torch' in sys.modules, any(m.startswith('PyQt6') for m in sys.modules)); "
            "from detector import Classifier, Detections, Detector, Tracker; "
            "print(Detector.__module__, Classifier.__module__, Detections.__module__, Tracker.__module__)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    first, second = p.stdout.splitlines()
    assert first == "False False"
    assert second.split() == ["detector.runtime.torch_detector", "detector.runtime.classifier",
                              "detector.types.detections", "detector.analytics.tracker"]
