"""MiVOLO in OpenVINO: an exported `.onnx` or OpenVINO IR `.xml`, on the CPU.

OpenVINO keeps an ONNX file's metadata_props under rt_info "framework", also in an IR converted
from it, so both carry the checkpoint meta the same way. Precision is pinned to fp32 unless the
run opts in to bf16 (`--precision bf16`): OpenVINO's default bf16 on recent CPUs moves ages by up
to half a year. Its thread pool is sized by the run's Runtime.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional, Union

import numpy as np
import torch

from mivolo.model.backends import load_failure, require_package
from mivolo.model.backends.metadata import META_KEYS, PARAM_COUNT_KEY, from_metadata
from mivolo.core.errors import CheckpointError
from mivolo.core.runtime import Runtime

_logger = logging.getLogger("mivolo")

METADATA_SECTION = "framework"
_READ_KEYS = (*META_KEYS, PARAM_COUNT_KEY, "names", "stride", "task")


def cpu_config(runtime: Runtime) -> dict:
    return {
        "PERFORMANCE_HINT": "LATENCY",
        "INFERENCE_PRECISION_HINT": "bf16" if runtime.bf16_for("openvino") else "f32",
        "INFERENCE_NUM_THREADS": runtime.threads,
    }


def _dims(partial_shape) -> List[Optional[int]]:
    return [dim.get_length() if dim.is_static else None for dim in partial_shape]


class OpenVINOMiVOLO:
    def __init__(self, path: Path, device: Union[torch.device, Runtime]):
        """`device`, or the run's Runtime: its device, CPU thread count and precision."""
        ov = require_package("openvino", "the openvino backend")
        if not path.is_file():
            raise CheckpointError(f"{path}: exported MiVOLO file not found")
        runtime = device if isinstance(device, Runtime) else Runtime.of(None, device)
        if runtime.device.type != "cpu":
            _logger.warning("the openvino backend runs MiVOLO on the CPU, not on %s", runtime.device)
        core = ov.Core()
        try:
            model = core.read_model(str(path))
        except Exception as exc:  # OpenVINO raises plain RuntimeErrors with long C++ traces
            raise load_failure(path, "openvino", ov.__version__, exc)
        props = {
            key: model.get_rt_info([METADATA_SECTION, key]).astype(str)
            for key in _READ_KEYS
            if model.has_rt_info([METADATA_SECTION, key])
        }
        info = from_metadata(props, path, _dims(model.input().get_partial_shape()), _dims(model.output().get_partial_shape()))
        self.meta, self.architecture, self.param_count = info.meta, info.architecture, info.param_count
        try:
            self.compiled = core.compile_model(model, "CPU", cpu_config(runtime))
            self.request = self.compiled.create_infer_request()
        except Exception as exc:
            raise load_failure(path, "openvino", ov.__version__, exc)

    def __call__(self, model_input: torch.Tensor) -> torch.Tensor:
        array = np.ascontiguousarray(model_input.detach().to("cpu", torch.float32).numpy())
        self.request.infer({0: array})
        # the request reuses its output buffer on the next call: copy out
        return torch.from_numpy(self.request.get_output_tensor(0).data.copy())

    def threads_in_use(self) -> str:
        threads = self.compiled.get_property("INFERENCE_NUM_THREADS")
        precision = self.compiled.get_property("INFERENCE_PRECISION_HINT").get_type_name()  # f32, bf16
        return f"openvino INFERENCE_NUM_THREADS={threads}, precision {precision}"
