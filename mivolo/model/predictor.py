"""`Predictor`: detector + MiVOLO for one image (the published entry point)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from mivolo.model.mi_volo import MiVOLO
from mivolo.model.yolo_detector import Detector
from mivolo.model.structures import PersonAndFaceResult
from mivolo.model.weights import resolve_checkpoint, resolve_detector_weights


class Predictor:
    """Built from a config with the demo's fields (`detector_weights`, `checkpoint`, `device`,
    `with_persons`, `disable_faces`, `draw`; optional `half`, `detector_imgsz`, `backend`)."""

    def __init__(self, config, verbose: bool = False):
        device = getattr(config, "device", None)
        half = getattr(config, "half", True)
        self.detector = Detector(
            resolve_detector_weights(getattr(config, "detector_weights", None)),
            device=device,
            half=half,
            verbose=verbose,
            imgsz=getattr(config, "detector_imgsz", 640),
            backend=getattr(config, "backend", None),
        )
        self.age_gender_model = MiVOLO(
            str(resolve_checkpoint(getattr(config, "checkpoint", None))),
            device=device,
            half=half,
            use_persons=getattr(config, "with_persons", True),
            disable_faces=getattr(config, "disable_faces", False),
            verbose=verbose,
            backend=getattr(config, "backend", None),
        )
        self.draw = getattr(config, "draw", False)

    def recognize(self, image: np.ndarray) -> Tuple[PersonAndFaceResult, Optional[np.ndarray]]:
        detected_objects = self.detector.predict(image)
        self.age_gender_model.predict(image, detected_objects)
        out_im = detected_objects.plot() if self.draw else None
        return detected_objects, out_im
