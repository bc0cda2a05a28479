"""The session every runtime uses: the graph as the fastest exact form this CPU runs."""
from __future__ import annotations

from detector.runtime.onnx.rewrites.fused_ops import fused_graph
from detector.runtime.onnx.rewrites.int8_weights import fastest_int8_graph
from detector.runtime.onnx.session import plain_ort_session


def ort_session(model: bytes, threads: int = 0, spin: bool = True):
    """An ONNX Runtime CPU session with every graph optimisation; ``threads`` 0 = ORT's default (one
    per physical core, as torch picks). ``spin``: workers spin between the ops of a call and stop
    when it returns (lower latency a call); False: they always sleep when idle (lossless runs, whose
    decoding and encoding threads need the cores). An integer graph runs with int8 weights where this
    CPU makes that faster and exact (``rewrites.int8_weights``), and with ORT's fused adds and concatenations
    where those give its integers here (``rewrites.fused_ops``)."""
    return plain_ort_session(fastest_int8_graph(fused_graph(model), threads), threads, spin)

