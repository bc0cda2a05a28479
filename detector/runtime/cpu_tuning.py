"""Process-wide settings the ``lookout`` command (and the benchmark, which mirrors it) starts with.

They are the application's choices, not the library's: importing ``detector`` changes none of them.
"""
from __future__ import annotations

import ctypes
import os

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc mallopt parameters


def tune_process() -> None:
    """Call first thing, before torch or ONNX Runtime load.

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
