"""Signed weights for the integer graphs on CPUs whose int8 dot products are exact (VNNI).

Lookout's quantised graphs (``convert.qlinear_export``) carry uint8 weights: on AVX2 without VNNI, ONNX
Runtime's fast u8 x s8 kernels add pairs of products in saturating int16 (``vpmaddubsw``), which
broke exactness deep in MobileNetV2, while u8 x u8 widens first. With AVX512-VNNI or AVX-VNNI the
u8 x s8 kernels accumulate in int32 (``vpdpbusd``) and are the faster ones. The same integers go
in as int8: ``w - zp`` becomes int8 with zero point 0 where it fits (ORT's symmetric kernels), else
``w - 128`` with zero point ``zp - 128``; every product ``(w - zp) * x`` is unchanged.

A rewritten graph is used only after it gave the uint8 graph's outputs bit for bit on random
inputs on this machine, and that verdict is kept in the cache (keyed by the graph's bytes and the
ORT version), so a later start pays nothing. Measured on the 2-core AVX512-VNNI benchmark machine
(ORT 1.32, network only, median of 100 runs): COCO SSD 6.9 -> 5.3 ms, MobileNetV2 classifier
3.2 -> 2.6 ms, outputs identical.
"""
from __future__ import annotations

import numpy as np

from detector.runtime.host import has_vnni
from detector.runtime.onnx.rewrites.verdict import same_outputs
from detector.runtime.onnx.session import RewriteVerdict, plain_ort_session

FORMAT = b"lookout-s8-weights/1"


def signed(model: bytes) -> bytes | None:
    """``model`` with every QLinearConv's uint8 weights as int8 (same products); None when it has
    none or the onnx package is missing."""
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        return None
    m = onnx.load_from_string(model)
    inits = {i.name: i for i in m.graph.initializer}
    changed = False
    for k, node in enumerate(m.graph.node):
        if node.op_type != "QLinearConv" or node.input[3] not in inits or node.input[5] not in inits:
            continue
        w = numpy_helper.to_array(inits[node.input[3]])
        if w.dtype != np.uint8:
            continue
        zp = numpy_helper.to_array(inits[node.input[5]]).astype(np.int32)
        if zp.size != 1:
            continue  # per-channel zero points: left as they are
        centred = w.astype(np.int32) - int(zp)
        if centred.min() >= -128 and centred.max() <= 127:
            w8, zp8 = centred.astype(np.int8), np.int8(0)
        else:
            w8, zp8 = (w.astype(np.int32) - 128).astype(np.int8), np.int8(int(zp) - 128)
        # new names: a weight initialiser may be shared, and ORT removes the unused old ones
        m.graph.initializer.extend([numpy_helper.from_array(w8, f"s8w{k}"),
                                    numpy_helper.from_array(np.array(zp8, np.int8), f"s8z{k}")])
        node.input[3], node.input[5] = f"s8w{k}", f"s8z{k}"
        changed = True
    if not changed:
        return None
    used = {i for n in m.graph.node for i in n.input}
    kept = [i for i in m.graph.initializer if i.name in used]
    del m.graph.initializer[:]
    m.graph.initializer.extend(kept)
    return m.SerializeToString()


def fastest_int8_graph(model: bytes, threads: int) -> bytes:
    """The bytes of ``model`` to run in ONNX Runtime on this CPU: its int8-weight form when that is
    faster here and was checked bit-identical here, else ``model`` itself."""
    if b"QLinearConv" not in model or not has_vnni():
        return model
    import onnxruntime as ort
    verdict = RewriteVerdict("s8", FORMAT, ort.__version__.encode(), model)
    kept = verdict.kept_graph()
    if kept is not None:
        return kept
    if verdict.was_refused():
        return model
    rewritten = signed(model)
    if rewritten is None:
        return model
    if same_outputs(plain_ort_session(model, threads), plain_ort_session(rewritten, threads)):
        verdict.keep(rewritten)
        return rewritten
    verdict.refuse("outputs differed from the uint8 graph's")
    return model
