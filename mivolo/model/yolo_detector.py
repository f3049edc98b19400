"""The YOLOv8 person+face detector (ultralytics), loaded safely, on the device the user asked for."""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Union

import numpy as np
import torch

from mivolo.devices import resolve_device
from mivolo.errors import CheckpointError
from mivolo.structures import DETECTOR_CLASSES, PersonAndFaceResult

DETECTOR_SUFFIX = ".pt"


def _require_safe_ultralytics_loading() -> None:
    """Make ultralytics unpickle with weights_only=True and its class allow-list.

    `mivolo/__init__` sets ULTRALYTICS_SAFE_LOAD before ultralytics is imported; this covers a
    process that imported ultralytics first.
    """
    from ultralytics.nn import tasks

    tasks.SAFE_LOAD = True


def check_detector_file(path: Path) -> None:
    """Refuse, with a one-line reason, anything that is not an ultralytics detector checkpoint."""
    if not path.is_file():
        raise CheckpointError(f"{path}: detector weights not found")
    if path.suffix != DETECTOR_SUFFIX:
        hint = " (a MiVOLO checkpoint? pass it with --checkpoint)" if path.name.endswith((".pth.tar", ".safetensors")) else ""
        raise CheckpointError(f"{path}: detector weights must be an ultralytics .pt file{hint}")
    try:
        needed = torch.serialization.get_unsafe_globals_in_checkpoint(str(path))
    except (ValueError, RuntimeError) as exc:
        raise CheckpointError(f"{path}: cannot read these detector weights; the file is truncated or corrupt ({exc})")
    if not any(name.startswith("ultralytics.") for name in needed):
        raise CheckpointError(
            f"{path}: not an ultralytics detector checkpoint (a MiVOLO checkpoint? pass it with --checkpoint)"
        )


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
    ):
        from ultralytics import YOLO

        path = Path(weights)
        check_detector_file(path)
        _require_safe_ultralytics_loading()
        try:
            self.yolo = YOLO(str(path), task="detect")
        except Exception as exc:  # ultralytics raises many types for a bad file; all mean the same here
            raise CheckpointError(f"{path}: could not load detector weights safely: {str(exc).splitlines()[0][:200]}")
        self.yolo.fuse()
        self.device = resolve_device(device)
        self.half = half and self.device.type != "cpu"
        if self.half:
            self.yolo.model = self.yolo.model.half()
        self.detector_names: Dict[int, str] = self.yolo.model.names
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

    def predict(self, image: Union[np.ndarray, str]) -> PersonAndFaceResult:
        results = self.yolo.predict(image, **self.detector_kwargs)[0]
        return PersonAndFaceResult(results)

    def predict_batch(self, images) -> list:
        """One forward pass over several frames."""
        return [PersonAndFaceResult(r) for r in self.yolo.predict(list(images), **self.detector_kwargs)]
