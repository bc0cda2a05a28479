"""The graph every runtime runs: an integer graph as its fastest exact form on this machine.

An integer graph runs faster here after the rewrites in ``rewrites/`` (ORT's fused adds and
concatenations, int8 weights on VNNI CPUs), each used only after this machine gave the original's
integers with it. What they make of a graph is kept in the cache once, under one key (the graph's
bytes, ORT's version, the CPU's flags), so a later start reads that one file and never enters the
rewrites; the first start here (or a new ORT, another CPU) runs them.
"""
from __future__ import annotations

from detector.runtime.host import cpu_flags
from detector.runtime.onnx.session import RewriteVerdict, plain_ort_session

FASTEST_FORMAT = b"lookout-fastest-graph/1"


def fastest_graph(model: bytes, threads: int = 0) -> bytes:
    """``model`` as it runs fastest and exactly here: the kept form, or the rewrites' (then kept);
    ``model`` itself (the same object) for a float graph or where no rewrite is exact here."""
    if b"QLinearConv" not in model:
        return model  # only the integer graphs have rewrites
    import onnxruntime as ort
    verdict = RewriteVerdict("fastest", FASTEST_FORMAT, ort.__version__.encode(),
                             " ".join(sorted(cpu_flags())).encode(), model)
    kept = verdict.kept_graph()
    if kept is not None:
        return kept
    if verdict.was_refused():
        return model  # checked before: no rewrite is exact here
    from detector.runtime.onnx.rewrites.fused_ops import fused_graph
    from detector.runtime.onnx.rewrites.int8_weights import fastest_int8_graph
    graph = fastest_int8_graph(fused_graph(model), threads)
    if graph is model:
        verdict.refuse("no rewrite applies or is exact on this machine")
    else:
        verdict.keep(graph)
    return graph


def ort_session(model: bytes, threads: int = 0, spin: bool = True):
    """An ONNX Runtime CPU session of ``fastest_graph(model)`` with every graph optimisation;
    ``threads`` 0 = ORT's default (one per physical core, as torch picks). ``spin``: workers spin
    between the ops of a call and stop when it returns (lower latency a call); False: they always
    sleep when idle (lossless runs, whose decoding and encoding threads need the cores)."""
    return plain_ort_session(fastest_graph(model, threads), threads, spin)
