"""The package's layers, read from its own source: imports flow one way, the engine never imports
Qt, the public names stay where users import them from."""
from __future__ import annotations

import ast
import re
import subprocess
import sys

import pytest

from conftest import ROOT, shared_path

# Lowest first: a module may import from its own layer and the layers before it.
LAYERS = ["util", "types", "ops", "models", "convert", "analytics", "io", "events", "runtime", "engine", "batch", "train", "cli"]


def _imports(path):
    """(line, module) of each import statement at any depth (inside functions too), outside
    ``if TYPE_CHECKING:`` blocks; relative imports resolved against ``path``'s package."""
    tree = ast.parse(path.read_text())
    typing_only = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            typing_only.update(id(n) for b in node.body for n in ast.walk(b))
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            yield node.lineno, base
            for alias in node.names:  # ``from detector.x import y`` may name the module x.y
                yield node.lineno, f"{base}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name


def _module_name(path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def import_graph(pkg) -> dict[str, dict[str, int]]:
    """Module -> {module of the package it imports: line}, from every import statement (see
    ``_imports``); an import of ``a.b.c`` also runs ``a`` and ``a.b``, so it counts for them too."""
    modules = {_module_name(p): p for p in pkg.rglob("*.py")}
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        for line, module in _imports(path):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                target = ".".join(parts[:i])
                # a module's own packages run before it whatever it imports: not an edge back
                if target in modules and target != name and not name.startswith(target + "."):
                    edges.setdefault(target, line)
    return graph


def find_cycle(graph: dict[str, dict[str, int]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (depth-first search, iterative)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in sorted(graph):
        if state.get(start):
            continue
        path, stack = [start], [iter(sorted(graph[start]))]
        state[start] = 1
        while stack:
            nxt = next(stack[-1], None)
            if nxt is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            elif not state.get(nxt):
                state[nxt] = 1
                path.append(nxt)
                stack.append(iter(sorted(graph.get(nxt, {}))))
    return None


def test_imports_flow_one_way_through_the_layers():
    pkg = ROOT / "detector"
    folders = sorted(p.name for p in pkg.iterdir() if (p / "__init__.py").is_file())
    assert folders == sorted(LAYERS), "a new folder needs its place in LAYERS"
    upward = []
    for path in pkg.rglob("*.py"):
        rel = path.relative_to(pkg).parts
        if len(rel) == 1:  # the package's front door
            continue
        for line, module in _imports(path):
            parts = module.split(".")
            if parts[0] in ("ui", "lookout_ui", "PyQt6", "main"):
                upward.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
            elif parts[0] == "detector" and len(parts) > 1 and parts[1] in LAYERS \
                    and LAYERS.index(parts[1]) > LAYERS.index(rel[0]):
                upward.append(f"{path.relative_to(ROOT)}:{line} ({rel[0]}) imports {module}")
    assert not upward, "imports against the layer order:\n" + "\n".join(sorted(set(upward)))


def test_no_import_cycle_in_the_package():
    """No module of ``detector/`` reaches itself through imports, counting those inside functions
    (a cycle hidden in a function still ties the two modules together)."""
    graph = import_graph(ROOT / "detector")
    assert len(graph) > 50 and "detector.runtime.loader" in graph["detector.engine.run"]
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(
        f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" -> {cycle[-1]}"


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b": 1}, "b": {"c": 2}, "c": {"a": 3}, "d": {}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b": 1}, "b": {}, "c": {"a": 1, "b": 2}}) is None


# The torch wing converts TF files and exports graphs at their first load; everything else in the
# runtime reads Lookout's one-file models through ``models.bundle`` / ``models.card`` and never
# needs the converters (nor torch).
CONVERT_USERS_IN_RUNTIME = ("detector/runtime/weights.py", "detector/runtime/torch/")


def test_the_runtime_never_imports_convert_outside_its_torch_wing():
    found = []
    for path in (ROOT / "detector" / "runtime").rglob("*.py"):
        rel = str(path.relative_to(ROOT))
        if rel.startswith(CONVERT_USERS_IN_RUNTIME):
            continue
        found += [f"{rel}:{line} imports {m}" for line, m in _imports(path) if m.startswith("detector.convert")]
    assert not found, "\n".join(sorted(set(found)))


def test_nothing_imports_the_loader_but_the_engine_and_the_front_door():
    """The loader sits on top of the runtime: no runtime module (nor anything below) imports it."""
    graph = import_graph(ROOT / "detector")
    users = sorted(m for m, edges in graph.items() if "detector.runtime.loader" in edges)
    assert all(m == "detector" or m.startswith(("detector.engine", "detector.batch")) for m in users), users


@pytest.mark.slow
def test_tests_never_import_the_tools():
    """tools/ are scripts that use the package; what a test shares with one lives in the package or
    in a tests/ helper, so a test never runs a script's module-level code."""
    tool_modules = {p.stem for p in (ROOT / "tools").glob("*.py")}
    found = []
    for path in sorted((ROOT / "tests").glob("*.py")):
        if re.search(r'sys\.path\.insert\([^)]*"tools"', path.read_text()):
            found.append(f"{path.name}: puts tools/ on sys.path")
        found += [f"{path.name}:{line}: imports {module}" for line, module in _imports(path)
                  if module.split(".")[0] in tool_modules or module.startswith("tools.")]
    assert not found, found


def test_public_names_and_a_torch_free_engine_import():
    """``from detector import ...`` keeps working, and importing the engine loads neither torch nor Qt
    (the command line's torch-free start depends on it), nor does loading the default model."""
    code = ("import sys; import detector.engine.run, detector.engine.live_session; "
            "print('torch' in sys.modules, any(m.startswith('PyQt6') for m in sys.modules)); "
            "from detector import Detector; d = Detector.load(device='cpu'); "
            "print(type(d).__name__, d.device, isinstance(d, Detector), 'torch' in sys.modules); "
            "from detector import Classifier, Detections, Tracker; "
            "print(Detector.__module__, Classifier.__module__, Detections.__module__, Tracker.__module__)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    first, loaded, names = p.stdout.splitlines()
    assert first == "False False"
    assert loaded == "OnnxDetector cpu True False"
    assert names.split() == ["detector.runtime.base", "detector.runtime.classifier",
                             "detector.types.detections", "detector.analytics.tracker"]


def test_the_load_walk_from_load_models_to_a_session_is_at_most_four_files():
    """tools/load_walk.py on a default CPU start with a classifier (the ImageNet TFLite of ../shared):
    the Lookout calls on the stack when each ONNX Runtime session is made (what a reader follows from
    ``load_models``) span at most four files, the detector's and the classifier's alike."""
    classifier = shared_path("models/mobilenet_v2_1.0_224_quant.tflite")
    p = subprocess.run([sys.executable, str(ROOT / "tools" / "load_walk.py"), "--classifier", str(classifier)],
                       capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    for what in ("session", "classifier's session"):
        line = next(l for l in lines if l.startswith(f"path at the {what}:"))
        files = int(line.split(":")[1].split()[0])
        chain = lines[lines.index(line) + 1]
        assert files <= 4 and chain.strip().startswith("detector/engine/run.py:load_models"), p.stdout
        assert chain.strip().endswith("detector/runtime/onnx/session.py:plain_ort_session"), chain
