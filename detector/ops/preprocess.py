"""Image preprocessing that reproduces the TF OD API's input pipeline bit for bit.

The frozen graphs resize with TF1's ``ResizeBilinear(align_corners=False)`` without half-pixel
centres: source coordinate = ``dst * (in/out)``, not OpenCV's ``(dst + 0.5) * (in/out) - 0.5``. The
difference is up to half a source pixel, enough to move scores by a few hundredths, so this module
does that resize itself (gather two rows, two columns, lerp) on the model's device.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import torch


@dataclass(frozen=True)
class Preprocessing:
    """How a model wants its input: RGB, resized to ``size`` (h, w) by ``resize``, then
    ``x * scale + offset``. ``resize``: "tf_bilinear" (TF1's legacy resize, the TF OD API graphs)
    or "cv2_linear" (OpenCV's INTER_LINEAR on uint8, as the TFLite references are fed)."""

    size: tuple[int, int] = (300, 300)
    scale: float = 2.0 / 255.0
    offset: float = -1.0
    resize: str = "tf_bilinear"

    def to_dict(self) -> dict:
        return {"size": list(self.size), "scale": self.scale, "offset": self.offset, "resize": self.resize}

    @classmethod
    def from_dict(cls, d: dict) -> "Preprocessing":
        return cls(tuple(int(v) for v in d["size"]), float(d["scale"]), float(d["offset"]),
                   str(d.get("resize", "tf_bilinear")))

    def resizer(self):
        """The resize with a ``numpy(img, scale, offset)`` method for this preprocessing."""
        if self.resize == "cv2_linear":
            return CvLinearResize(self.size)
        if self.resize != "tf_bilinear":
            raise ValueError(f"expected resize 'tf_bilinear' or 'cv2_linear', got {self.resize!r}")
        return TFBilinearResize(self.size)


class _Scratch(threading.local):
    """Arrays a thread reuses call after call. A fresh frame-sized array costs more in page faults
    than the arithmetic done in it (glibc maps each block over 128 KiB anew and the kernel zeroes
    every page): the person model's exact resize took 2.7 ms with fresh arrays, 0.9 ms with these."""

    def __init__(self):
        self.arrays: dict = {}

    def get(self, key, shape: tuple, dtype=np.float32) -> np.ndarray:
        a = self.arrays.get(key)
        if a is None or a.shape != shape or a.dtype != dtype:
            a = self.arrays[key] = np.empty(shape, dtype)
        return a


class _Resize:
    out_hw: tuple[int, int]

    def __init__(self, out_hw: tuple[int, int]):
        self.out_hw = tuple(out_hw)
        self._scratch = _Scratch()

    def numpy(self, img: np.ndarray, scale: float, offset: float, out: np.ndarray | None = None) -> np.ndarray:
        raise NotImplementedError

    def batch(self, images: list[np.ndarray], scale: float, offset: float) -> np.ndarray:
        """BGR uint8 images -> (N, 3, out_h, out_w) float32 RGB in this thread's own buffer: valid
        until the thread's next call (a runtime that reads it at once, as ONNX Runtime does)."""
        x = self._scratch.get(("batch", len(images)), (len(images), 3) + self.out_hw)
        for i, img in enumerate(images):
            self.numpy(img, scale, offset, out=x[i])
        return x


class CvLinearResize(_Resize):
    """OpenCV INTER_LINEAR resize of uint8 images (the TFLite detectors' reference input)."""

    def numpy(self, img: np.ndarray, scale: float, offset: float, out: np.ndarray | None = None) -> np.ndarray:
        """img (H, W, 3) uint8 BGR -> (3, out_h, out_w) float32 RGB, ``x * scale + offset`` (into ``out``
        when given)."""
        oh, ow = self.out_hw
        small = cv2.resize(img, (ow, oh), dst=self._scratch.get("u8", (oh, ow, 3), np.uint8),
                           interpolation=cv2.INTER_LINEAR)  # uint8, as the reference
        x = self._scratch.get("f32", (oh, ow, 3))
        np.copyto(x, small, casting="unsafe")
        if scale != 1.0:
            x *= np.float32(scale)
        x += np.float32(offset)
        if out is None:
            out = np.empty((3, oh, ow), np.float32)
        np.copyto(out, x[:, :, ::-1].transpose(2, 0, 1))
        return out


def _lerp_table(in_size: int, out_size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    # float32 arithmetic as TF's kernel does it, so the lerp weights match to the last bit.
    scale = np.float32(in_size) / np.float32(out_size)
    src = np.arange(out_size, dtype=np.float32) * scale
    lo = np.floor(src).astype(np.int64)
    hi = np.minimum(lo + 1, in_size - 1)
    return lo, hi, (src - lo.astype(np.float32)).astype(np.float32)


class TFBilinearResize(_Resize):
    """Legacy TF bilinear resize of HxWx3 uint8 images to a fixed size, tables cached per input size."""

    def __init__(self, out_hw: tuple[int, int]):
        super().__init__(out_hw)
        self._tables: dict[tuple, tuple] = {}

    def _table(self, in_hw: tuple[int, int], device: torch.device):
        import torch  # here, not at the top: the ONNX Runtime path runs without torch
        key = (in_hw, str(device))
        if key not in self._tables:
            ylo, yhi, dy = _lerp_table(in_hw[0], self.out_hw[0])
            xlo, xhi, dx = _lerp_table(in_hw[1], self.out_hw[1])
            self._tables[key] = tuple(torch.from_numpy(a).to(device) for a in (ylo, yhi, dy, xlo, xhi, dx))
        return self._tables[key]

    def numpy(self, img: np.ndarray, scale: float, offset: float, out: np.ndarray | None = None) -> np.ndarray:
        """CPU path without torch ops (so no OpenMP pool spins up beside another runtime's threads):
        img (H, W, 3) uint8 BGR -> (3, out_h, out_w) float32 RGB, ``x * scale + offset`` (into ``out``
        when given).

        The four neighbours of every output pixel are gathered with OpenCV's nearest-neighbour remap
        (an exact copy, SIMD-fast), then lerped in float32 in the same order as ``__call__`` and TF.
        The top and bottom halves of the output are made at once on two threads (every value is
        computed as it would be in one pass).
        """
        key = (tuple(img.shape[:2]), "numpy")
        if key not in self._tables:
            (oh, ow), f32 = self.out_hw, np.float32
            ylo, yhi, dy = _lerp_table(img.shape[0], oh)
            xlo, xhi, dx = _lerp_table(img.shape[1], ow)
            grid = lambda v, rows: np.ascontiguousarray(  # noqa: E731
                np.broadcast_to(v.astype(f32)[:, None] if rows else v.astype(f32)[None, :], (oh, ow)))
            # weights over rows of (out_w * 3) values: numpy's inner loops stay long and contiguous
            self._tables[key] = (grid(xlo, False), grid(xhi, False), grid(ylo, True), grid(yhi, True),
                                 np.repeat(dx, 3)[None, :].astype(f32), dy[:, None].astype(f32))
        img = np.ascontiguousarray(img)
        oh, ow = self.out_hw
        if out is None:
            out = np.empty((3, oh, ow), np.float32)
        tables = self._tables[key]
        # The bottom half on a short-lived thread (no thread outlives the call), in this thread's
        # scratch arrays; a helper kept for the process would be a little faster but would outlive
        # the window and sessions (docs/speed.md).
        if oh < 64:  # too little work to be worth a thread
            self._rows(img, tables, 0, oh, scale, offset, out, self._buffers("all", oh))
            return out
        split, failed = oh // 2, []
        top, bottom = self._buffers("top", split), self._buffers("bottom", oh - split)

        def bottom_half():
            try:
                self._rows(img, tables, split, oh, scale, offset, out, bottom)
            except BaseException as e:  # noqa: BLE001 (re-raised in the caller's thread)
                failed.append(e)
        helper = threading.Thread(target=bottom_half, name="lookout-resize", daemon=True)
        helper.start()
        try:
            self._rows(img, tables, 0, split, scale, offset, out, top)
        finally:
            helper.join()
        if failed:
            raise failed[0]
        return out

    def _buffers(self, half: str, h: int) -> dict[str, np.ndarray]:
        """This thread's scratch arrays for ``h`` output rows: uint8 (h, out_w, 3), float32 (h, out_w * 3)."""
        ow = self.out_hw[1]
        bufs = {k: self._scratch.get((k, half), (h, ow * 3)) for k in "abcd"}
        bufs["u8"] = self._scratch.get(("u8", half), (h, ow, 3), np.uint8)
        return bufs

    @staticmethod
    def _rows(img, tables, r0: int, r1: int, scale: float, offset: float, out: np.ndarray, bufs: dict) -> None:
        """Output rows r0..r1 of ``numpy`` into ``out``, computed in ``bufs`` (see ``_buffers``)."""
        mx_lo, mx_hi, my_lo, my_hi, dx, dy = (t[r0:r1] if t.shape[0] > 1 else t for t in tables)
        u8 = bufs["u8"]
        h, ow = u8.shape[:2]

        def corner(k, mx, my):  # (h, ow * 3) float32
            cv2.remap(img, mx, my, cv2.INTER_NEAREST, dst=u8)
            np.copyto(bufs[k], u8.reshape(h, ow * 3), casting="unsafe")
            return bufs[k]
        # In place, in the order TF computes: top = a + (b - a) * dx, ..., out = top + (bottom - top) * dy
        top, b = corner("a", mx_lo, my_lo), corner("b", mx_hi, my_lo)
        b -= top; b *= dx; top += b
        bottom, d = corner("c", mx_lo, my_hi), corner("d", mx_hi, my_hi)
        d -= bottom; d *= dx; bottom += d
        bottom -= top; bottom *= dy; top += bottom
        top *= np.float32(scale); top += np.float32(offset)
        np.copyto(out[:, r0:r1], top.reshape(h, ow, 3)[:, :, ::-1].transpose(2, 0, 1))  # BGR -> RGB, HWC -> CHW

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        """img (H, W, C) uint8 on any device -> (C, out_h, out_w) float32, values still 0..255."""
        ylo, yhi, dy, xlo, xhi, dx = self._table(tuple(img.shape[:2]), img.device)
        # Gather only the rows and columns the output needs before converting to float; lerp x
        # first, then y, in the order TF's kernel does, so rounding matches too.
        def along_x(rows: torch.Tensor) -> torch.Tensor:
            left, right = rows[:, xlo].float(), rows[:, xhi].float()
            return left + (right - left) * dx[None, :, None]

        top, bottom = along_x(img[ylo]), along_x(img[yhi])
        out = top + (bottom - top) * dy[:, None, None]
        return out.permute(2, 0, 1)


def as_bgr_uint8(image: np.ndarray) -> np.ndarray:
    """Check an input image and bring it to HxWx3 uint8 BGR (gray and BGRA converted).

    Raises ValueError naming what was expected and what came.
    """
    if not isinstance(image, np.ndarray):
        raise ValueError(f"expected a numpy array HxWx3 uint8 (BGR), got {type(image).__name__}")
    if image.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image (OpenCV BGR), got dtype {image.dtype}")
    if image.ndim == 2:
        image = image[:, :, None]
    if image.ndim != 3 or image.shape[2] not in (1, 3, 4):
        raise ValueError(f"expected an HxW, HxWx1, HxWx3 or HxWx4 image, got shape {image.shape}")
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise ValueError(f"expected a non-empty image, got shape {image.shape}")
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 4:
        image = image[:, :, :3]
    return image
