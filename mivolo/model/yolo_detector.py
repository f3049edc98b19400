"""The YOLOv8 person+face detector (ultralytics), loaded safely, on the device the user asked for.

A `.pt` runs in PyTorch; an ultralytics export runs in ONNX Runtime (`.onnx`) or OpenVINO (the
`*_openvino_model` folder, or the `.xml` inside it), with the same predictions and API.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch

from mivolo.model.backends import (
    ONNX,
    OPENVINO_DETECTOR_FOLDER_SUFFIX,
    OPENVINO_SUFFIX,
    TORCH,
    detector_backend_for,
    require_package,
)
from mivolo.core.runtime import Runtime
from mivolo.core.errors import CheckpointError
from mivolo.core.record import DETECTOR_CLASSES, People
from mivolo.model.structures import PersonAndFaceResult

DETECTOR_SUFFIX = ".pt"
_logger = logging.getLogger("mivolo")


def _require_safe_ultralytics_loading() -> None:
    """Make ultralytics unpickle with weights_only=True and its class allow-list.

    `mivolo/__init__` sets ULTRALYTICS_SAFE_LOAD before ultralytics is imported; this covers a
    process that imported ultralytics first.
    """
    from ultralytics.nn import tasks

    tasks.SAFE_LOAD = True


def _check_exported_detector(path: Path, backend: str) -> Path:
    """The path ultralytics should open for an exported detector, after checking it is one."""
    if backend == ONNX:
        if not path.is_file():
            raise CheckpointError(f"{path}: detector weights not found")
        require_package("onnx", "the onnx detector backend")
        require_package("onnxruntime", "the onnx detector backend")
        return path
    folder = path.parent if path.suffix.lower() == OPENVINO_SUFFIX else path
    if not folder.is_dir():
        raise CheckpointError(f"{path}: detector weights not found")
    if not folder.name.endswith(OPENVINO_DETECTOR_FOLDER_SUFFIX) or not any(folder.glob("*" + OPENVINO_SUFFIX)):
        raise CheckpointError(
            f"{path}: an OpenVINO detector is the '<name>{OPENVINO_DETECTOR_FOLDER_SUFFIX}' folder (with its .xml, .bin "
            "and metadata.yaml) that tools/export.py writes"
        )
    require_package("openvino", "the openvino detector backend")
    return folder


def check_detector_file(path: Path, backend: str = TORCH) -> Path:
    """Refuse, with a one-line reason, anything that is not an ultralytics detector; return what to load.

    `.pt` files are checked for their pickled globals before anything is unpickled.
    """
    if backend != TORCH:
        return _check_exported_detector(path, backend)
    if not path.is_file():
        raise CheckpointError(f"{path}: detector weights not found")
    if path.suffix != DETECTOR_SUFFIX:
        hint = " (a MiVOLO checkpoint? pass it with --checkpoint)" if path.name.endswith((".pth.tar", ".safetensors")) else ""
        raise CheckpointError(f"{path}: detector weights must be an ultralytics .pt file{hint}")
    # Once a detector is loaded, ultralytics' classes are allow-listed for the process and no
    # longer reported; list the file's globals against an empty allow-list so a second load works.
    allowed = torch.serialization.get_safe_globals()
    torch.serialization.clear_safe_globals()
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot read these detector weights; the file is truncated or corrupt ({exc})")
    finally:
        torch.serialization.add_safe_globals(allowed)
    if not any(name.startswith("ultralytics.") for name in needed):
        raise CheckpointError(
            f"{path}: not an ultralytics detector checkpoint (a MiVOLO checkpoint? pass it with --checkpoint)"
        )
    return path


class Detector:
    def __init__(
        self,
        weights: Union[str, Path],
        device: str = "cuda",
        half: bool = True,
        verbose: bool = False,
        conf_thresh: float = 0.4,
        iou_thresh: float = 0.7,
        imgsz: int = 640,
        backend: Optional[str] = None,
        *,
        runtime: Optional[Runtime] = None,
    ):
        """The published arguments (device, half, backend) or one resolved `runtime` for the run."""
        from ultralytics import YOLO

        runtime = Runtime.of(runtime, device, half, backend)
        runtime.apply_threads()
        self.runtime = runtime
        path = Path(weights)
        self.backend = detector_backend_for(path, runtime.backend)
        source = check_detector_file(path, self.backend)
        _require_safe_ultralytics_loading()
        self.device = runtime.device
        self.half = runtime.fp16_for(self.backend)
        try:
            self.yolo = YOLO(str(source), task="detect")
            if self.backend == TORCH:
                self.yolo.fuse()
                if self.half:
                    self.yolo.model = self.yolo.model.half()
            # an exported model is opened here, by ultralytics' predictor setup
            self.detector_names: Dict[int, str] = self.yolo.names
        except Exception as exc:  # ultralytics raises many types for a bad file; all mean the same here
            raise CheckpointError(f"{path}: could not load detector weights safely: {str(exc).splitlines()[0][:200]}")
        missing = [name for name in DETECTOR_CLASSES if name not in self.detector_names.values()]
        if missing:
            raise CheckpointError(
                f"{path}: this detector has classes {sorted(self.detector_names.values())}; "
                f"MiVOLO needs 'person' and 'face' (missing {missing})"
            )
        self.detector_kwargs = {
            "conf": conf_thresh,
            "iou": iou_thresh,
            "quantize": 16 if self.half else None,  # ultralytics >= 8.4 name for fp16
            "verbose": verbose,
            "imgsz": imgsz,
            "device": str(self.device),  # the published code never passed the device
        }

    def _predict(self, source) -> list:
        first_call = getattr(self.yolo, "predictor", None) is None
        results = self.yolo.predict(source, **self.detector_kwargs)
        # ultralytics' predictor setup lowers torch's threads to cores - 1 (1 of 2 cores), which
        # would also halve MiVOLO's speed on a CPU: put back the run's thread count
        self.runtime.apply_threads()
        if first_call and self.detector_kwargs["verbose"]:
            _logger.info("detector threads: %s", self.threads_in_use())
        return results

    def threads_in_use(self) -> str:
        """What the detector's library really runs with, read back (exported models: once loaded)."""
        backend = getattr(getattr(self.yolo, "predictor", None), "model", None)
        session = getattr(backend, "session", None)
        if session is not None:  # ultralytics' own ONNX Runtime session: 0 is ORT's default, the physical cores
            return f"onnxruntime intra_op_num_threads={session.get_session_options().intra_op_num_threads}"
        compiled = getattr(backend, "ov_compiled_model", None)
        if compiled is not None:
            return f"openvino INFERENCE_NUM_THREADS={compiled.get_property('INFERENCE_NUM_THREADS')}"
        return f"torch {torch.get_num_threads()} threads"

    def predict(self, image: Union[np.ndarray, str]) -> PersonAndFaceResult:
        return PersonAndFaceResult(self._predict(image)[0])

    def predict_batch(self, images) -> List[PersonAndFaceResult]:
        """One forward pass over several frames."""
        return [PersonAndFaceResult(r) for r in self._predict(list(images))]

    def detect_people(self, images: Sequence[np.ndarray]) -> List[People]:
        """Each frame's people, faces associated with bodies: one forward pass for all the frames."""
        results = self.predict_batch(images) if len(images) > 1 else [self.predict(images[0])]
        return [result.record for result in results]
