"""Safe loading of Lookout checkpoints: plain tensors and lists only, never pickled code."""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def read_checkpoint(path: str | Path, what: str, expected_format: str) -> dict:
    """``torch.load(weights_only=True)`` of a Lookout checkpoint dict; ValueError naming the problem."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for corrupt or unsafe files
        first = (str(e).strip().splitlines() or [type(e).__name__])[0].split(". ")[0][:160]
        raise ValueError(f"cannot read {what} {str(path)!r}: expected a Lookout checkpoint loadable with "
                         f"weights_only=True ({first})") from None
    if not isinstance(ckpt, dict) or ckpt.get("format") != expected_format:
        got = ckpt.get("format") if isinstance(ckpt, dict) else type(ckpt).__name__
        raise ValueError(f"expected a {expected_format!r} checkpoint in {str(path)!r}, got {got!r}")
    return ckpt


def load_strict(model: nn.Module, state_dict: dict, what: str) -> nn.Module:
    """Load every tensor, exactly; a mismatch is a ValueError saying which tensors and shapes."""
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        lines = [l.strip() for l in str(e).splitlines() if l.strip()]
        raise ValueError(f"{what}: {' '.join(lines[1:3]) or lines[0]}") from None
    return model.eval()


def checkpoint_format(path: str | Path) -> str | None:
    """The ``format`` a Lookout checkpoint declares, or None where the file can't be read as one
    (the loader that opens it then says why)."""
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception:  # noqa: BLE001 torch raises many types for corrupt or unsafe files
        return None
    return ckpt.get("format") if isinstance(ckpt, dict) else None
