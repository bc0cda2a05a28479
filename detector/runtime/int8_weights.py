"""Signed weights for the integer graphs on CPUs whose int8 dot products are exact (VNNI).

Lookout's quantised graphs (``qlinear_export``) carry uint8 weights: on AVX2 without VNNI, ONNX
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

import hashlib

import numpy as np

from detector.util.download import cache_dir
from detector.util.files import keep_cache_file

FORMAT = b"lookout-s8-weights/1"


VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def has_vnni() -> bool:
    """The CPU has int8 dot products that accumulate in int32 (AVX512-VNNI or AVX-VNNI), per Linux's
    /proc/cpuinfo; False where that cannot be read."""
    from detector.runtime.backend import cpu_flags
    return bool(cpu_flags() & VNNI_FLAGS)


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


def same_outputs(a, b, trials: int = 3) -> bool:
    """Two sessions of one graph give identical outputs on random inputs (uint8 values, as the
    graphs' float input holds ``uint8 - zero point``; zero points 0 and 128 both tried)."""
    inp = a.get_inputs()[0]
    shape = [1] + [int(d) if isinstance(d, int) else 1 for d in inp.shape[1:]]
    rng = np.random.default_rng(0)
    for t in range(trials):
        x = (rng.integers(0, 256, shape) - (128 if t % 2 else 0)).astype(np.float32)
        if not all(np.array_equal(p, q) for p, q in zip(a.run(None, {inp.name: x}), b.run(None, {inp.name: x}))):
            return False
    return True


def fastest_int8_graph(model: bytes, threads: int) -> bytes:
    """The bytes of ``model`` to run in ONNX Runtime on this CPU: its int8-weight form when that is
    faster here and was checked bit-identical here, else ``model`` itself."""
    if b"QLinearConv" not in model or not has_vnni():
        return model
    from detector.runtime.backend import plain_ort_session
    import onnxruntime as ort
    key = hashlib.sha256(FORMAT + ort.__version__.encode() + model).hexdigest()[:16]
    folder = cache_dir() / "onnx"
    accepted, refused = folder / f"{key}.s8.onnx", folder / f"{key}.s8.refused"
    if accepted.is_file():
        try:
            return accepted.read_bytes()
        except OSError:
            pass
    if refused.is_file():
        return model
    rewritten = signed(model)
    if rewritten is None:
        return model
    if same_outputs(plain_ort_session(model, threads), plain_ort_session(rewritten, threads)):
        keep_cache_file(accepted, rewritten)
        return rewritten
    keep_cache_file(refused, b"outputs differed from the uint8 graph's\n")
    return model
