"""Facts about this machine and process: CPU flags and cores, whether CUDA can be used, which
optional runtimes are installed, and the process settings the ``lookout`` command starts with.

Devices are named as on the command line: "auto", "cpu", "cuda" or "cuda:N". Nothing here imports
torch unless a GPU device node exists (then the caller needs torch anyway); the window lists
devices on its GUI thread through ``available_devices``.
"""
from __future__ import annotations

import ctypes
import functools
import importlib.util
import os
import sys
from pathlib import Path

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def require_torch(what: str):
    """The torch module; ValueError "``what`` needs PyTorch: pip install 'lookout[torch]'" where it
    is not installed (the base install runs the ONNX Runtime paths without it)."""
    try:
        import torch
    except ImportError:
        raise ValueError(f"{what} needs PyTorch: pip install 'lookout[torch]'") from None
    return torch


def may_have_cuda() -> bool:
    """Whether an NVIDIA (or WSL) GPU device node exists: only then can torch see CUDA."""
    return any(os.path.exists(p) for p in ("/dev/nvidiactl", "/dev/nvidia0", "/dev/dxg"))


def cuda_available() -> bool:
    """torch's answer, asked only when it can be yes (or torch is loaded already); False without torch."""
    if "torch" not in sys.modules and not may_have_cuda():
        return False
    try:
        import torch
    except ImportError:
        return False
    return torch.cuda.is_available()


def available_devices() -> list[str]:
    """"cpu", plus "cuda" where a GPU can be used; never imports torch on a machine without a GPU
    (importing it on the window's GUI thread froze it ~2.5 s)."""
    if sys.modules.get("torch") is not None:
        return ["cpu", "cuda"] if sys.modules["torch"].cuda.is_available() else ["cpu"]
    return ["cpu", "cuda"] if may_have_cuda() and importlib.util.find_spec("torch") is not None else ["cpu"]


def device_name(device: str) -> str:
    """"auto" -> "cuda" when usable, else "cpu"; "cpu" / "cuda[:N]" checked. ValueError naming the fix."""
    name = str(device)
    if name == "auto":
        return "cuda" if cuda_available() else "cpu"
    if name != "cpu" and not name.startswith("cuda"):
        raise ValueError(f"expected device 'auto', 'cpu' or 'cuda', got {name!r}")
    if name.startswith("cuda"):
        require_torch(f"--device {name}")
        if not cuda_available():
            raise ValueError("expected a CUDA GPU for device 'cuda', got none on this machine; use --device cpu")
    return name


def ort_installed(export: bool = True) -> bool:
    """ONNX Runtime present (and, when a graph must be exported first, the onnx package)."""
    needs = ("onnxruntime", "onnx") if export else ("onnxruntime",)
    return all(importlib.util.find_spec(m) is not None for m in needs)


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


VNNI_FLAGS = frozenset({"avx512_vnni", "avx_vnni"})


def has_vnni() -> bool:
    """The CPU has int8 dot products that accumulate in int32 (AVX512-VNNI or AVX-VNNI), per Linux's
    /proc/cpuinfo; False where that cannot be read."""
    return bool(cpu_flags() & VNNI_FLAGS)


def default_threads() -> int:
    """Intra-op threads for an ONNX Runtime session, as torch picks its own: ``OMP_NUM_THREADS``, else
    0 (ORT's default: one a physical core)."""
    return int(os.environ.get("OMP_NUM_THREADS") or 0)


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


def tune_process() -> None:
    """Process-wide settings for the ``lookout`` command (and the benchmark, which mirrors it): the
    application's choices, not the library's, so importing ``detector`` changes none of them.
    Call first thing, before torch or ONNX Runtime load.

    - ``OMP_WAIT_POLICY=PASSIVE``: torch's idle OpenMP workers sleep instead of spinning on the
      cores ONNX Runtime computes on (measured 34 -> 26 ms a frame).
    - glibc keeps freed frame-sized buffers for reuse instead of returning each to the kernel:
      by default every array over 128 KiB is a fresh mmap whose pages fault in one by one, which
      made the exact TF resize 7.2 ms instead of 1.5 ms (and taxes decode, drawing and encoding).
    - OpenCV's own thread pool off: it only contends with the model runtime's threads.
    - OpenCV's and FFmpeg's log lines off (a refused stream printed three lines of their internals
      before Lookout's one line saying what to do); OPENCV_FFMPEG_LOGLEVEL=24 brings FFmpeg's back.
    """
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET, read at the first capture
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_MMAP_THRESHOLD, 64 << 20)
        libc.mallopt(_M_TRIM_THRESHOLD, 256 << 20)
    except (OSError, AttributeError):
        pass  # not glibc: its defaults stay
    import cv2
    cv2.setNumThreads(1)
