"""`Predictor`: detector + MiVOLO for one image (the published entry point)."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from mivolo.core.record import People
from mivolo.core.runtime import Runtime
from mivolo.model.mi_volo import MiVOLO
from mivolo.model.yolo_detector import Detector
from mivolo.model.structures import PersonAndFaceResult
from mivolo.model.weights import resolve_weights


class Predictor:
    """The detector and MiVOLO for one image.

    Built with keywords (`Predictor(detector_weights=..., checkpoint=..., runtime=...)`), or, as
    published, from a config with the demo's fields (`detector_weights`, `checkpoint`, `device`,
    `with_persons`, `disable_faces`, `draw`; optional `half`, `detector_imgsz`, `backend`). Weights
    left out are the public defaults from the Hugging Face hub.
    """

    def __init__(
        self,
        config=None,
        verbose: bool = False,
        *,
        detector_weights=None,
        checkpoint=None,
        runtime: Optional[Runtime] = None,
        with_persons: bool = True,
        disable_faces: bool = False,
        draw: bool = False,
        detector_imgsz: int = 640,
    ):
        if config is not None:
            detector_weights = getattr(config, "detector_weights", None)
            checkpoint = getattr(config, "checkpoint", None)
            # the published Predictor always asked for fp16 (it applies on a GPU only)
            runtime = runtime or Runtime.resolve(
                getattr(config, "device", None), getattr(config, "half", True), getattr(config, "backend", None)
            )
            with_persons = getattr(config, "with_persons", True)
            disable_faces = getattr(config, "disable_faces", False)
            draw = getattr(config, "draw", False)
            detector_imgsz = getattr(config, "detector_imgsz", 640)
        runtime = runtime or Runtime.resolve()
        self.runtime = runtime
        detector_weights, checkpoint = resolve_weights(detector_weights, checkpoint)
        self.detector = Detector(detector_weights, verbose=verbose, imgsz=detector_imgsz, runtime=runtime)
        self.age_gender_model = MiVOLO(
            str(checkpoint),
            use_persons=with_persons,
            disable_faces=disable_faces,
            verbose=verbose,
            runtime=runtime,
        )
        self.draw = draw

    def people(self, image: np.ndarray) -> People:
        """The image's people with their estimates (the project's per-frame record)."""
        return self.age_gender_model.estimate(image, self.detector.detect_people([image])[0])

    def recognize(self, image: np.ndarray) -> Tuple[PersonAndFaceResult, Optional[np.ndarray]]:
        detected_objects = self.detector.predict(image)
        self.age_gender_model.predict(image, detected_objects)
        out_im = detected_objects.plot() if self.draw else None
        return detected_objects, out_im
