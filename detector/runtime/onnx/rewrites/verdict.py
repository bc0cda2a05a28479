"""What an exactness check decided about a rewritten graph, kept so a later start pays nothing.

``int8_weights`` and ``fused_ops`` each rewrite the integer graphs for speed and use the rewrite
only after checking, on this machine, that it gives the original's integers. The verdict is kept
under the cache's ``onnx/`` folder as ``KEY.KIND.DIGEST.onnx`` (the rewritten graph, DIGEST its own
hash) or ``KEY.KIND.refused`` (why not), KEY a hash of everything that decides it.
"""
from __future__ import annotations

import hashlib

import numpy as np

from detector.util.download import cache_dir
from detector.util.files import keep_cache_file


class RewriteVerdict:
    def __init__(self, kind: str, *decided_by: bytes):
        self.folder, self.kind = cache_dir() / "onnx", kind
        self.key = hashlib.sha256(b"\0".join(decided_by)).hexdigest()[:16]
        self.refused = self.folder / f"{self.key}.{kind}.refused"

    def kept_graph(self) -> bytes | None:
        """The rewritten graph accepted earlier, or None. Its file is named for its own hash too
        (``KEY.KIND.DIGEST.onnx``): a damaged one is deleted and the check runs again."""
        for path in self.folder.glob(f"{self.key}.{self.kind}.*.onnx"):
            try:
                data = path.read_bytes()
            except OSError:
                continue
            if path.name == self._name(data):
                return data
            path.unlink(missing_ok=True)
        return None

    def _name(self, graph: bytes) -> str:
        return f"{self.key}.{self.kind}.{hashlib.sha256(graph).hexdigest()[:16]}.onnx"

    def was_refused(self) -> bool:
        return self.refused.is_file()

    def keep(self, graph: bytes) -> None:
        keep_cache_file(self.folder / self._name(graph), graph)

    def refuse(self, why: str) -> None:
        keep_cache_file(self.refused, why.encode() + b"\n")


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
