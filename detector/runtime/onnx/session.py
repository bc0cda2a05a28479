"""An ONNX Runtime CPU session for exactly the graph given (``plain_ort_session``), and the cache
entries of the rewritten graphs (``RewriteVerdict``): what every runtime's session and the rewrites'
own checks are made with. ``optimise.fastest_graph`` gives the graph to run."""
from __future__ import annotations

import hashlib

from detector.runtime.host import physical_cores
from detector.util.download import cache_dir
from detector.util.files import keep_cache_file


class RewriteVerdict:
    """What an exactness check decided about a rewritten graph, kept under the cache's ``onnx/``
    folder as ``KEY.KIND.DIGEST.onnx`` (the rewritten graph, DIGEST its own hash) or
    ``KEY.KIND.refused`` (why not), KEY a hash of everything that decides it."""

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


def plain_ort_session(model: bytes, threads: int = 0, spin: bool = True):
    """A session with ORT's own graph optimisations only (``threads``, ``spin``: as ``optimise.ort_session``)."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("the onnxruntime backend needs ONNX Runtime: ONNX Runtime is one of Lookout's own dependencies: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    # ORT's own default (0: one thread per physical core) pins its workers to cores; an explicit count
    # leaves them unpinned, and they woke up cold between frames: at 10 fps a frame took 32-33 ms
    # instead of 21-22 ms (the same 2 threads, A/B on the 2-core benchmark machine).
    opts.intra_op_num_threads = 0 if threads == physical_cores() else threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    # errors only: an int8 (QDQ) graph has ORT fold its clamps into the quantisation and then name each
    # bound it no longer needs, one warning line each (124 for a lookout train model), at every load
    opts.log_severity_level = 3
    # Spinning workers starve the capture and output threads of a lossless run: on the 2-core AVX2
    # machine always-spinning made lossless vtest.avi -> mp4 + JSONL 39-41 -> 32-34 fps; on the
    # AVX512-VNNI one (3 alternating runs each, H.264 / MPEG-4 out) never spinning 104 / 132 fps,
    # spinning only during a call 98 / 126, always 84 / 107. A single call is faster when workers spin
    # between its ops: model alone, never vs during a call, person SSDLite 5.24 vs 4.39 ms, COCO SSD
    # 5.2 vs 4.4, classifier 2.88 vs 2.32 (ORT's force_spinning_stop ends the spinning when Run returns).
    opts.add_session_config_entry("session.intra_op.allow_spinning", "1" if spin else "0")
    if spin:
        opts.add_session_config_entry("session.force_spinning_stop", "1")
    return ort.InferenceSession(model, opts, providers=["CPUExecutionProvider"])
