"""Where and how a run's models execute, resolved once: the device, fp16, the inference backend.

`Runtime.resolve(device, half, backend)` turns the user's choice into one object that the
detector, MiVOLO, the Re-ID encoder and the evaluation all take, so that the device is checked
once and the fp16 rule lives in one place (`Runtime.fp16_for`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

from mivolo.core.errors import MiVOLOError

if TYPE_CHECKING:  # torch is imported when a runtime is resolved, not when this module is
    import torch

TORCH, ONNX, OPENVINO = "torch", "onnx", "openvino"
BACKENDS = (TORCH, ONNX, OPENVINO)


def default_device() -> str:
    import torch

    return "cuda:0" if torch.cuda.is_available() else "cpu"


def resolve_device(device: Optional[str]) -> "torch.device":
    """`None`/"auto" picks the GPU when there is one; an unavailable GPU is a one-line error."""
    import torch

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


def check_backend(backend: Optional[str]) -> Optional[str]:
    if backend is not None and backend not in BACKENDS:
        raise MiVOLOError(f"unknown backend {backend!r}: choose one of {', '.join(BACKENDS)}")
    return backend


@dataclass(frozen=True)
class Runtime:
    device: "torch.device"
    half: bool = False  # the user asked for fp16 (it applies where `fp16_for` says)
    backend: Optional[str] = None  # torch, onnx or openvino; None: each weight file's type decides

    @classmethod
    def resolve(cls, device: Optional[str] = None, half: bool = False, backend: Optional[str] = None) -> "Runtime":
        return cls(resolve_device(device), bool(half), check_backend(backend))

    @classmethod
    def of(cls, runtime: Optional["Runtime"], device=None, half: bool = False, backend=None) -> "Runtime":
        """`runtime` when given, else one resolved from the published keyword arguments."""
        if runtime is not None:
            return runtime
        return cls.resolve(None if device is None else str(device), half, backend)

    def fp16_for(self, backend: str) -> bool:
        """fp16 runs only in PyTorch on a GPU; exported models and the CPU stay fp32."""
        return self.half and self.device.type == "cuda" and backend == TORCH
