"""Where and how a run's models execute, resolved once: the device, fp16, the inference backend,
the CPU threads and MiVOLO's CPU precision.

`Runtime.resolve(device, half, backend, threads, precision)` turns the user's choice into one
object that the detector, MiVOLO, the Re-ID encoder and the evaluation all take, so that the
device is checked once, the fp16 rule lives in one place (`Runtime.fp16_for`) and every library
(torch, OpenCV, ONNX Runtime, OpenVINO) gets the same thread count (`Runtime.apply_threads`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Iterable, Optional

from mivolo.core.errors import MiVOLOError

if TYPE_CHECKING:  # torch is imported when a runtime is resolved, not when this module is
    import torch

TORCH, ONNX, OPENVINO = "torch", "onnx", "openvino"
BACKENDS = (TORCH, ONNX, OPENVINO)
FP32, BF16 = "fp32", "bf16"
PRECISIONS = (FP32, BF16)


def physical_cores(cpus: Optional[Iterable[int]] = None, sysfs: str = "/sys/devices/system/cpu") -> int:
    """The physical cores among `cpus` (default: those this process may run on), SMT siblings
    counted once: one compute thread per core is what torch, ONNX Runtime and OpenVINO size their
    pools by, and a second thread on a core's sibling only competes for the same units."""
    if cpus is None:
        cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else range(os.cpu_count() or 1)
    cores = set()
    for cpu in sorted(cpus):
        topology = f"{sysfs}/cpu{cpu}/topology"
        try:
            with open(f"{topology}/physical_package_id") as package, open(f"{topology}/core_id") as core:
                cores.add((package.read().strip(), core.read().strip()))
        except OSError:  # no sysfs topology (containers, other systems): count the CPU itself
            cores.add(("cpu", str(cpu)))
    return max(1, len(cores))


def cpu_has_bf16() -> bool:
    """The CPU has bf16 instructions (AVX-512 BF16 or AMX); without them torch emulates bf16,
    slowly, and OpenVINO falls back to fp32."""
    try:
        with open("/proc/cpuinfo") as info:
            flags = info.read().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def check_threads(threads: Optional[int]) -> int:
    if threads is None:
        return physical_cores()
    if threads < 1:
        raise MiVOLOError(f"--threads must be at least 1, got {threads}")
    return int(threads)


def check_precision(precision: Optional[str]) -> str:
    if precision is None:
        return FP32
    if precision not in PRECISIONS:
        raise MiVOLOError(f"unknown precision {precision!r}: choose one of {', '.join(PRECISIONS)}")
    return precision


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
    threads: int = field(default_factory=physical_cores)  # CPU compute threads for every library
    precision: str = FP32  # MiVOLO's arithmetic on the CPU (bf16 where the user opts in)

    @classmethod
    def resolve(
        cls,
        device: Optional[str] = None,
        half: bool = False,
        backend: Optional[str] = None,
        threads: Optional[int] = None,
        precision: Optional[str] = None,
    ) -> "Runtime":
        return cls(resolve_device(device), bool(half), check_backend(backend), check_threads(threads), check_precision(precision))

    @classmethod
    def of(cls, runtime: Optional["Runtime"], device=None, half: bool = False, backend=None) -> "Runtime":
        """`runtime` when given, else one resolved from the published keyword arguments."""
        if runtime is not None:
            return runtime
        return cls.resolve(None if device is None else str(device), half, backend)

    def fp16_for(self, backend: str) -> bool:
        """fp16 runs only in PyTorch on a GPU; exported models and the CPU stay fp32."""
        return self.half and self.device.type == "cuda" and backend == TORCH

    def bf16_for(self, backend: str) -> bool:
        """bf16 (the user's opt-in) runs MiVOLO on the CPU: torch autocast or OpenVINO's hint."""
        return self.precision == BF16 and self.device.type == "cpu" and backend in (TORCH, OPENVINO)

    def apply_threads(self) -> None:
        """torch's intra-op pool and OpenCV's to `threads` (again after anything lowered them, as
        ultralytics' predictor setup does); ONNX Runtime and OpenVINO take it per session."""
        import cv2
        import torch

        if torch.get_num_threads() != self.threads:
            torch.set_num_threads(self.threads)
        if cv2.getNumThreads() != self.threads:
            cv2.setNumThreads(self.threads)
