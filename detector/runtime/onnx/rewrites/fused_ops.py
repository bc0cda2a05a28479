"""Residual adds and SSD output concatenations of the integer graphs as ONNX Runtime's fused
integer ops, on machines where those give exactly the graph's integers.

``convert.qlinear_export`` writes each residual add as ten int32 elementwise ops (XNNPACK's fixed-point
add) and each SSD output concatenation as six float ops a part, so that any ONNX runtime gets the
interpreter's integers. ORT has one op for each: ``QLinearAdd`` (float math whose rounding lands
on the fixed-point result for almost every input pair) and ``QLinearConcat`` (a 256-entry table per
input). Both are functions of uint8 inputs only, so whether they agree can be checked for every
possible input: all 65,536 pairs of an add, all 256 values of a concatenation's part. An add that
misses a pair (a float product rounding across .5, about 1 pair in 65,536 for half of them) gets
its scales nudged by a few float32 steps until every pair agrees; one that never agrees, or a part
that disagrees, keeps the original ops. The rewritten graph must then give the original one's
outputs on random inputs too, and the result is kept in the cache, keyed by the graph's bytes, ORT's
version and the CPU's flags (the kernels differ per instruction set).

The graph says what may be fused in its metadata (``FUSABLE_OPS_KEY``), as JSON:
``{"adds": [{"a", "b", "out", "mult": [A, B], "shift", "zero_points": [za, zb, zc], "range": [lo, hi]}],
"concats": [{"parts": [{"src", "ratio", "zero_point", "out_zero_point"}], "axis", "out"}]}``, names
of uint8 tensors except a concatenation's float32 ``out``. An add computes
``clip(floor((A (a - za) + B (b - zb) + 2**(shift-1)) / 2**shift) + zc, lo, hi)``; a part
``clip(round_half_even(float32(x - zero_point) * ratio) + out_zero_point, 0, 255)``.

Measured on the 2-core Xeon (AVX512-VNNI) benchmark machine, COCO SSD network alone, interleaved,
ORT 1.32, 400 alternating calls: 12.4 -> 10.9 ms a frame; MobileNetV2 classifier 5.2 -> 4.5 ms;
outputs identical.
"""
from __future__ import annotations

import json
from itertools import product

import numpy as np

from detector.models.card import FUSABLE_OPS_KEY
from detector.runtime.host import cpu_flags
from detector.runtime.onnx.rewrites.verdict import same_outputs
from detector.runtime.onnx.session import RewriteVerdict, plain_ort_session

FORMAT = b"lookout-fused-ops/1"
_NUDGES = sorted(product(range(-3, 4), range(-3, 4), (0, -1, 1)), key=lambda k: (sum(map(abs, k)), k))


def _pairs() -> tuple[np.ndarray, np.ndarray]:
    a, b = np.meshgrid(np.arange(256, dtype=np.uint8), np.arange(256, dtype=np.uint8), indexing="ij")
    return a.reshape(-1), b.reshape(-1)


def add_reference(add: dict, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The graph's residual add on uint8 arrays ``a``, ``b`` (exact, in int64)."""
    (ma, mb), s = add["mult"], add["shift"]
    za, zb, zc = add["zero_points"]
    acc = (a.astype(np.int64) - za) * ma + (b.astype(np.int64) - zb) * mb + 2 ** (s - 1)
    return np.clip(np.floor_divide(acc, 2 ** s) + zc, *add["range"]).astype(np.uint8)


def part_reference(part: dict, x: np.ndarray) -> np.ndarray:
    """A concatenation part's requantisation of uint8 ``x``, float32 as the graph does it."""
    v = (x.astype(np.float32) - np.float32(part["zero_point"])) * np.float32(part["ratio"])
    return np.clip(np.rint(v) + part["out_zero_point"], 0, 255).astype(np.uint8)


def _nudged(x: float, steps: int) -> np.float32:
    x = np.float32(x)
    for _ in range(abs(steps)):
        x = np.nextafter(x, np.float32(np.inf if steps > 0 else -np.inf), dtype=np.float32)
    return x


def add_scales(add: dict, nudge: tuple[int, int, int] = (0, 0, 0)) -> tuple[np.float32, np.float32, np.float32]:
    """QLinearAdd's (a scale, b scale, output scale): A / 2**shift, B / 2**shift (exact in float32)
    and 1, each moved by ``nudge`` float32 steps."""
    (ma, mb), s = add["mult"], add["shift"]
    return _nudged(ma / 2 ** s, nudge[0]), _nudged(mb / 2 ** s, nudge[1]), _nudged(1.0, nudge[2])


class _Ops:
    """Nodes and constants of a graph being written (names prefixed so they collide with nothing)."""

    def __init__(self, prefix: str):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper, self.prefix = helper, numpy_helper, prefix
        self.nodes, self.inits, self.n = [], [], 0

    def name(self) -> str:
        self.n += 1
        return f"{self.prefix}{self.n}"

    def const(self, value, dtype) -> str:
        name = self.name()
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def qladd(self, a: str, b: str, add: dict, scales, out: str | None = None) -> str:
        za, zb, zc = add["zero_points"]
        out = out or self.name()
        self.nodes.append(self.helper.make_node(
            "QLinearAdd", [a, self.const(scales[0], np.float32), self.const(za, np.uint8), b,
                           self.const(scales[1], np.float32), self.const(zb, np.uint8),
                           self.const(scales[2], np.float32), self.const(zc, np.uint8)], [out], domain="com.microsoft"))
        return out

    def qlconcat(self, srcs: list[str], concat: dict, out: str | None = None) -> str:
        out = out or self.name()
        inputs = [self.const(1.0, np.float32), self.const(concat["parts"][0]["out_zero_point"], np.uint8)]
        for src, part in zip(srcs, concat["parts"]):
            inputs += [src, self.const(part["ratio"], np.float32), self.const(part["zero_point"], np.uint8)]
        self.nodes.append(self.helper.make_node("QLinearConcat", inputs, [out], domain="com.microsoft",
                                                axis=concat["axis"]))
        return out


def _run(ops: _Ops, inputs: dict[str, np.ndarray], outputs: list[str]) -> list[np.ndarray]:
    from onnx import helper, TensorProto
    graph = helper.make_graph(ops.nodes, "check", [helper.make_tensor_value_info(k, TensorProto.UINT8, v.shape)
                                                   for k, v in inputs.items()],
                              [helper.make_tensor_value_info(o, TensorProto.UINT8, None) for o in outputs], ops.inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 8
    return plain_ort_session(model.SerializeToString(), 1, spin=False).run(outputs, inputs)


def exact_add_scales(adds: list[dict]) -> list[tuple | None]:
    """For each add, QLinearAdd scales under which this machine's ORT gives the add's result for
    all 65,536 input pairs (the least nudged), or None."""
    a, b = _pairs()
    wanted = [add_reference(add, a, b) for add in adds]
    found: list[tuple | None] = [None] * len(adds)
    pending = list(range(len(adds)))
    for chunk in (_NUDGES[:1], _NUDGES[1:25], _NUDGES[25:]):  # most adds need no nudge at all
        if not pending:
            break
        ops, tried = _Ops("chk"), []
        for i in pending:
            for nudge in chunk:
                scales = add_scales(adds[i], nudge)
                tried.append((i, scales, ops.qladd("a", "b", adds[i], scales)))
        results = _run(ops, {"a": a, "b": b}, [out for _, _, out in tried])
        for (i, scales, _), got in zip(tried, results):
            if found[i] is None and np.array_equal(got, wanted[i]):
                found[i] = scales
        pending = [i for i in pending if found[i] is None]
    return found


def exact_concats(concats: list[dict]) -> list[bool]:
    """Whether this machine's QLinearConcat gives each concatenation's parts for all 256 values."""
    x = np.arange(256, dtype=np.uint8).reshape(1, 256, 1)
    ops, outs = _Ops("chk"), []
    for c in concats:
        if len({p["out_zero_point"] for p in c["parts"]}) != 1:
            outs.append(None)  # one output grid is all QLinearConcat has
            continue
        outs.append(ops.qlconcat(["x"] * len(c["parts"]), dict(c, axis=1)))
    results = iter(_run(ops, {"x": x}, [o for o in outs if o]) if any(outs) else [])
    ok = []
    for c, out in zip(concats, outs):
        if out is None:
            ok.append(False)
            continue
        want = np.concatenate([part_reference(p, x) for p in c["parts"]], axis=1)
        ok.append(np.array_equal(next(results), want))
    return ok


def _producers_between(graph, out: str, stops: set[str]) -> list | None:
    """The nodes that compute ``out`` from the tensors in ``stops`` (and constants), or None when
    any of them also feeds something else."""
    made_by = {o: n for n in graph.node for o in n.output}
    consumers: dict[str, list] = {}
    for n in graph.node:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    chain, todo = [], [out]
    while todo:
        name = todo.pop()
        node = made_by.get(name)
        if name in stops or node is None or any(node is c for c in chain):
            continue
        chain.append(node)
        todo.extend(node.input)
    inside = {id(n) for n in chain}
    for node in chain:
        for o in node.output:
            if o != out and any(id(c) not in inside for c in consumers.get(o, [])):
                return None
    return chain


def rewrite(model: bytes, adds: list[tuple[dict, tuple]], concats: list[dict]) -> bytes:
    """``model`` with the given adds (each with its scales) and concatenations as fused ops."""
    import onnx
    from onnx import helper, TensorProto
    m = onnx.load_from_string(model)
    ops = _Ops("fused")
    drop = []
    for add, scales in adds:
        chain = _producers_between(m.graph, add["out"], {add["a"], add["b"]})
        if chain:
            drop += chain
            ops.qladd(add["a"], add["b"], add, scales, out=add["out"])
    for c in concats:
        srcs = [p["src"] for p in c["parts"]]
        chain = _producers_between(m.graph, c["out"], set(srcs))
        if chain:
            drop += chain
            ops.nodes.append(helper.make_node("Cast", [ops.qlconcat(srcs, c)], [c["out"]], to=TensorProto.FLOAT))
    dropped = {id(n) for n in drop}
    kept = [n for n in m.graph.node if id(n) not in dropped]
    # a node's inputs come before it: the fused ops go where the first consumer of their output was
    order: dict[str, int] = {}
    for i, n in enumerate(kept):
        for name in n.input:
            order.setdefault(name, i)
    placed = sorted(ops.nodes, key=lambda n: order.get(n.output[0], len(kept)))
    nodes = []
    for i, n in enumerate(kept):
        nodes += [f for f in placed if order.get(f.output[0], len(kept)) == i]
        nodes.append(n)
    nodes += [f for f in placed if order.get(f.output[0], len(kept)) >= len(kept)]
    del m.graph.node[:]
    m.graph.node.extend(nodes)
    m.graph.initializer.extend(ops.inits)
    used = {i for n in m.graph.node for i in n.input}
    inits = [i for i in m.graph.initializer if i.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(inits)
    props = [p for p in m.metadata_props if p.key != FUSABLE_OPS_KEY]  # done: nothing left to fuse
    del m.metadata_props[:]
    m.metadata_props.extend(props)
    if not any(o.domain == "com.microsoft" for o in m.opset_import):
        m.opset_import.append(helper.make_opsetid("com.microsoft", 1))
    return m.SerializeToString()


def fusable(model: bytes) -> dict | None:
    """The graph's description of what may be fused, or None."""
    if FUSABLE_OPS_KEY.encode() not in model:
        return None
    try:
        import onnx
    except ImportError:
        return None  # ONNX Runtime without the onnx package: the graph runs as written
    props = {p.key: p.value for p in onnx.load_from_string(model).metadata_props}
    found = json.loads(props[FUSABLE_OPS_KEY]) if FUSABLE_OPS_KEY in props else None
    return found if found and (found.get("adds") or found.get("concats")) else None


def fused_graph(model: bytes) -> bytes:
    """``model`` with its residual adds and output concatenations as ORT's fused ops where that is
    exact on this machine (see the module docstring), else ``model`` itself."""
    if FUSABLE_OPS_KEY.encode() not in model:
        return model
    import onnxruntime as ort
    verdict = RewriteVerdict("fused", FORMAT, ort.__version__.encode(), " ".join(sorted(cpu_flags())).encode(), model)
    kept = verdict.kept_graph()
    if kept is not None:
        return kept
    described = fusable(model)
    if described is None or verdict.was_refused():
        return model
    adds = described.get("adds", [])
    concats = described.get("concats", [])
    try:
        accepted_adds = [(a, s) for a, s in zip(adds, exact_add_scales(adds)) if s is not None] if adds else []
        accepted_concats = [c for c, ok in zip(concats, exact_concats(concats)) if ok] if concats else []
        if accepted_adds or accepted_concats:
            rewritten = rewrite(model, accepted_adds, accepted_concats)
            if same_outputs(plain_ort_session(model, 1, spin=False), plain_ort_session(rewritten, 1, spin=False)):
                verdict.keep(rewritten)
                return rewritten
        why = "no fused op gave this graph's integers here"
    except Exception as e:  # noqa: BLE001 an ORT without these contrib ops: the graph as written is exact
        why = f"ONNX Runtime could not run the fused ops: {type(e).__name__}: {e}"
    verdict.refuse(why)
    return model
