"""Float32 that stays float32 on CUDA."""
from __future__ import annotations

import contextlib

import torch


def exact_fp32(device: torch.device, half: bool):
    """Context for an fp32 forward on CUDA: cuDNN convolutions in true fp32, not TF32.

    TF32 keeps 10 mantissa bits, which moves raw outputs by ~1e-2 (breaking TF parity) and breaks the
    classifier's integer-exact arithmetic; fp16 mode is the fast GPU path instead. A no-op on the CPU
    and in fp16.
    """
    if device.type != "cuda" or half:
        return contextlib.nullcontext()
    cudnn = torch.backends.cudnn
    return cudnn.flags(enabled=True, benchmark=cudnn.benchmark, deterministic=cudnn.deterministic,
                       allow_tf32=False)
