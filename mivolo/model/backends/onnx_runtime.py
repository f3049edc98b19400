"""MiVOLO in ONNX Runtime: an exported `.onnx` file with the same input and output as the PyTorch model."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Sequence, Union

import torch

from mivolo.model.backends import load_failure, require_package
from mivolo.model.backends.metadata import from_metadata
from mivolo.core.errors import CheckpointError, MiVOLOError
from mivolo.core.runtime import Runtime


def _dims(shape: Sequence) -> List[Optional[int]]:
    """ONNX Runtime names dynamic dimensions with strings (or None); those become None."""
    return [dim if isinstance(dim, int) else None for dim in shape]


def _providers(ort, device: torch.device) -> list:
    if device.type != "cuda":
        return ["CPUExecutionProvider"]
    if "CUDAExecutionProvider" not in ort.get_available_providers():
        raise MiVOLOError(
            f"device {device} asked for, but this onnxruntime has no CUDA support: "
            "pip install onnxruntime-gpu, or use --device cpu"
        )
    return [("CUDAExecutionProvider", {"device_id": device.index or 0}), "CPUExecutionProvider"]


class OnnxRuntimeMiVOLO:
    def __init__(self, path: Path, device: Union[torch.device, Runtime]):
        """`device`, or the run's Runtime: its device and its CPU thread count."""
        ort = require_package("onnxruntime", "the onnx backend")
        if not path.is_file():
            raise CheckpointError(f"{path}: exported MiVOLO file not found")
        runtime = device if isinstance(device, Runtime) else Runtime.of(None, device)
        providers = _providers(ort, runtime.device)
        options = ort.SessionOptions()
        options.intra_op_num_threads = runtime.threads
        # no busy-waiting between ops: the detector's session and the video decoder share these cores
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        try:
            self.session = ort.InferenceSession(str(path), options, providers=providers)
        except Exception as exc:  # onnxruntime raises its own, unexported exception types
            raise load_failure(path, "onnxruntime", ort.__version__, exc)
        graph_input, graph_output = self.session.get_inputs()[0], self.session.get_outputs()[0]
        info = from_metadata(
            self.session.get_modelmeta().custom_metadata_map,
            path,
            _dims(graph_input.shape),
            _dims(graph_output.shape),
        )
        self.meta, self.architecture, self.param_count = info.meta, info.architecture, info.param_count
        self.input_name = graph_input.name

    def __call__(self, model_input: torch.Tensor) -> torch.Tensor:
        array = model_input.detach().to("cpu", torch.float32).numpy()
        return torch.from_numpy(self.session.run(None, {self.input_name: array})[0])

    def threads_in_use(self) -> str:
        return f"onnxruntime intra_op_num_threads={self.session.get_session_options().intra_op_num_threads}"
