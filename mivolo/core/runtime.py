"""Device selection with a clear error instead of a CUDA traceback."""

from __future__ import annotations

from typing import Optional

import torch

from mivolo.core.errors import MiVOLOError


def default_device() -> str:
    return "cuda:0" if torch.cuda.is_available() else "cpu"


def resolve_device(device: Optional[str]) -> torch.device:
    """`None`/"auto" picks the GPU when there is one; an unavailable GPU is a one-line error."""
    if device in (None, "", "auto"):
        device = default_device()
    try:
        resolved = torch.device(device)
    except RuntimeError as exc:
        raise MiVOLOError(f"invalid device {device!r} (use cpu, cuda or cuda:N): {exc}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            raise MiVOLOError(f"device {device!r} requested but no CUDA GPU is available; use --device cpu")
        if resolved.index is not None and resolved.index >= torch.cuda.device_count():
            raise MiVOLOError(f"device {device!r} does not exist: {torch.cuda.device_count()} GPU(s) visible")
    return resolved
