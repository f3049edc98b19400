"""Inference backends: PyTorch, ONNX Runtime and OpenVINO, for MiVOLO and for the detector.

The backend is named (`torch`, `onnx`, `openvino`) or follows from the weight file: `.onnx` runs
in ONNX Runtime, an OpenVINO IR (`.xml`, or the detector's `*_openvino_model` folder) in OpenVINO,
anything else in PyTorch. Exported MiVOLO files carry the checkpoint's meta (see `metadata`), so
crops, batching and decoding stay shared and the outputs are the same whatever runs the network.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path
from types import ModuleType
from typing import Optional, Protocol

import torch

from mivolo.core.errors import CheckpointError, MiVOLOError
from mivolo.core.runtime import ONNX, OPENVINO, TORCH, check_backend
from mivolo.model.checkpoint import CheckpointMeta


ONNX_SUFFIX = ".onnx"
OPENVINO_SUFFIX = ".xml"
OPENVINO_DETECTOR_FOLDER_SUFFIX = "_openvino_model"  # the folder name ultralytics exports and recognises

# import name -> pip requirement, as pinned in requirements.txt
_PACKAGES = {
    "onnx": "onnx>=1.16,<2",
    "onnxruntime": "onnxruntime>=1.18,<2",
    "openvino": "openvino>=2024.2,<2027",
}


def require_package(module: str, purpose: str) -> ModuleType:
    """Import an optional runtime, or say in one line what to install."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise MiVOLOError(f"{purpose} needs the '{module}' package, which is not installed: pip install '{_PACKAGES[module]}'")


def mivolo_backend_for(path, backend: Optional[str] = None) -> str:
    """The backend that runs this MiVOLO file: from its extension, checked against `backend` if given."""
    check_backend(backend)
    path = Path(path)
    suffix = path.suffix.lower()
    by_file = ONNX if suffix == ONNX_SUFFIX else OPENVINO if suffix == OPENVINO_SUFFIX else TORCH
    if backend is None or backend == by_file:
        return by_file
    if backend == OPENVINO and by_file == ONNX:
        return OPENVINO  # OpenVINO reads ONNX files directly
    if by_file == TORCH:
        raise CheckpointError(
            f"{path}: the {backend} backend needs an exported MiVOLO (.onnx or OpenVINO .xml); "
            f"make one with: python tools/export.py --checkpoint {path} --output DIR"
        )
    raise CheckpointError(f"{path}: a {suffix} file runs with --backend {by_file}, not {backend}")


def detector_backend_for(path, backend: Optional[str] = None) -> str:
    """The backend that runs these detector weights: `.pt` torch, `.onnx` onnx, OpenVINO folder openvino."""
    check_backend(backend)
    path = Path(path)
    if path.suffix.lower() == ONNX_SUFFIX:
        by_file = ONNX
    elif path.suffix.lower() == OPENVINO_SUFFIX or path.is_dir():
        by_file = OPENVINO
    else:
        by_file = TORCH
    if backend is None or backend == by_file:
        return by_file
    if by_file == TORCH:
        raise CheckpointError(
            f"{path}: the {backend} backend needs an exported detector (.onnx or *{OPENVINO_DETECTOR_FOLDER_SUFFIX} "
            f"folder); make one with: python tools/export.py --detector-weights {path} --output DIR"
        )
    raise CheckpointError(f"{path}: these detector weights run with --backend {by_file}, not {backend}")


class ExportedMiVOLO(Protocol):
    """An exported MiVOLO network ready to run: the same input and output as the PyTorch model."""

    meta: CheckpointMeta
    architecture: str
    param_count: int

    def __call__(self, model_input: torch.Tensor) -> torch.Tensor: ...


def load_exported_mivolo(path, backend: str, device: torch.device) -> ExportedMiVOLO:
    """Open an exported MiVOLO file in ONNX Runtime or OpenVINO."""
    if backend == ONNX:
        from mivolo.model.backends.onnx_runtime import OnnxRuntimeMiVOLO

        return OnnxRuntimeMiVOLO(Path(path), device)
    if backend == OPENVINO:
        from mivolo.model.backends.openvino_backend import OpenVINOMiVOLO

        return OpenVINOMiVOLO(Path(path), device)
    raise ValueError(f"{backend!r} is not an exported-model backend")


def load_failure(path, runtime: str, version: str, exc: BaseException) -> CheckpointError:
    """A runtime's refusal to load a file, as one line that says what to do about it."""
    message = " ".join(str(exc).split())
    opset = re.search(r"[Oo]pset (\d+)", message)
    if opset:
        reason = f"it uses ONNX opset {opset.group(1)}, which {runtime} {version} does not support"
    else:
        reason = message[:200] or type(exc).__name__
    return CheckpointError(
        f"{path}: {runtime} {version} cannot load this model: {reason}; re-export it with tools/export.py "
        f"(default opset) or upgrade: pip install -U {runtime}"
    )
