"""Where and how a model runs: one decision for the torch detector, the quantised detector, the
classifier and the torch-free ONNX Runtime path, so they cannot disagree.

Devices are named as on the command line: "auto", "cpu", "cuda" or "cuda:N". Modes (see
``torch_modes``): eager, fused, jit, onnxruntime, and "auto" = the fastest exact one here.
Nothing in this module imports torch unless a GPU device node exists (then the caller needs torch
anyway); the window lists devices on its GUI thread through ``available_devices``.
"""
from __future__ import annotations

import functools
import importlib.util
import os
import sys
from pathlib import Path

DETECTOR_MODES = ("eager", "fused", "jit", "onnxruntime")
CLASSIFIER_MODES = ("eager", "jit", "onnxruntime")
QUANT_MODES = ("eager", "onnxruntime")


def may_have_cuda() -> bool:
    """Whether an NVIDIA (or WSL) GPU device node exists: only then can torch see CUDA."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


def cuda_available() -> bool:
    """torch's answer, asked only when it can be yes (or torch is loaded already)."""
    if "torch" not in sys.modules and not may_have_cuda():
        return False
    import torch
    return torch.cuda.is_available()


def available_devices() -> list[str]:
    """"cpu", plus "cuda" where a GPU can be used; never imports torch on a machine without a GPU
    (importing it on the window's GUI thread froze it ~2.5 s)."""
    if "torch" in sys.modules:
        return ["cpu", "cuda"] if sys.modules["torch"].cuda.is_available() else ["cpu"]
    return ["cpu", "cuda"] if may_have_cuda() else ["cpu"]


def device_name(device) -> str:
    """"auto" -> "cuda" when usable, else "cpu"; "cpu" / "cuda[:N]" checked. ValueError naming the fix."""
    name = str(device)
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"expected device 'auto', 'cpu' or 'cuda', got {name!r}")
    if name.startswith("cuda") and not cuda_available():
        raise ValueError("expected a CUDA GPU for device 'cuda', got none on this machine; use --device cpu")
    return name


def ort_installed(export: bool = True) -> bool:
    """ONNX Runtime present (and, when a graph must be exported first, the onnx package)."""
    needs = ("onnxruntime", "onnx") if export else ("onnxruntime",)
    return all(importlib.util.find_spec(m) is not None for m in needs)


def select_mode(device: str, mode: str = "auto", kind: str = "detector") -> str:
    """The runtime for a model of ``kind`` ("detector", "quant-detector", "classifier") on ``device``
    (a name from ``device_name``). ``mode="auto"``: ONNX Runtime on the CPU when installed (2.5x
    TorchScript for the detector, 1.8x eager for the classifier on the 2-core benchmark machine);
    on CUDA TorchScript for the float detector (batch 1 is launch-bound: jit 4.7 ms, eager 9.3 on
    an H200) and eager for integer-exact models (TorchScript's fused kernels broke exactness there).
    An explicit mode is checked against what ``kind`` offers; ValueError otherwise."""
    modes = {"detector": DETECTOR_MODES, "quant-detector": QUANT_MODES, "classifier": CLASSIFIER_MODES}[kind]
    cpu = device == "cpu"
    if mode == "auto":
        if cpu and ort_installed():
            return "onnxruntime"
        return "jit" if kind == "detector" else "eager"
    if mode not in modes:
        raise ValueError(f"expected a {kind.replace('-', ' ')} mode in auto, {', '.join(modes)}, got {mode!r}")
    if mode == "onnxruntime" and not cpu:
        raise ValueError(f"the onnxruntime backend runs on the CPU here, got device {device}")
    return mode


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them (avx2, avx512f, avx512_vnni, ...); empty where
    /proc/cpuinfo can't be read. Read once: every ORT session and the --int8 check ask."""
    try:
        for line in Path("/proc/cpuinfo").read_text(errors="replace").splitlines():
            if line.startswith("flags"):
                return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def physical_cores() -> int:
    """Physical cores this process may use (as ORT and torch count them for their defaults)."""
    try:
        cores, ids = set(), set()
        for block in Path("/proc/cpuinfo").read_text().split("\n\n"):
            fields = dict(line.split(":", 1) for line in block.splitlines() if ":" in line)
            fields = {k.strip(): v.strip() for k, v in fields.items()}
            if "processor" in fields:
                ids.add(int(fields["processor"]))
                cores.add((fields.get("physical id"), fields.get("core id", fields["processor"])))
        allowed = os.sched_getaffinity(0)
        return len(cores) if ids <= allowed else len(allowed)
    except (OSError, ValueError, AttributeError):
        return os.cpu_count() or 1


def ort_session(model: bytes, threads: int = 0, spin: bool = True):
    """An ONNX Runtime CPU session with every graph optimisation; ``threads`` 0 = ORT's default (one
    per physical core, as torch picks). ``spin``: workers spin between the ops of a call and stop
    when it returns (lower latency a call); False: they always sleep when idle (lossless runs, whose
    decoding and encoding threads need the cores). An integer graph runs with int8 weights where this
    CPU makes that faster and exact (``int8_weights``), and with ORT's fused adds and concatenations
    where those give its integers here (``fused_ops``)."""
    from detector.runtime.fused_ops import fused_graph
    from detector.runtime.int8_weights import fastest_int8_graph
    return plain_ort_session(fastest_int8_graph(fused_graph(model), threads), threads, spin)


def plain_ort_session(model: bytes, threads: int = 0, spin: bool = True):
    """``ort_session`` for exactly the graph given."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ValueError("the onnxruntime backend needs ONNX Runtime: pip install 'lookout[fast]'") from None
    opts = ort.SessionOptions()
    # ORT's own default (0: one thread per physical core) pins its workers to cores; an explicit count
    # leaves them unpinned, and they woke up cold between frames: at 10 fps a frame took 32-33 ms
    # instead of 21-22 ms (the same 2 threads, A/B on the 2-core benchmark machine).
    opts.intra_op_num_threads = 0 if threads == physical_cores() else threads
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
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
