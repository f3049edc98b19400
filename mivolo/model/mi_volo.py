"""`MiVOLO`: the age/gender estimator with the published API.

Given an image and its detections it builds the batch as the published code does (shared spec,
section 4), runs the network and writes ages and genders back into the detections. The network
runs in PyTorch, or in ONNX Runtime / OpenVINO for an exported file (see `mivolo.model.backends`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD

from mivolo.model.backends import TORCH, load_exported_mivolo, mivolo_backend_for
from mivolo.core.runtime import resolve_device
from mivolo.core.errors import MiVOLOError
from mivolo.model.checkpoint import CheckpointMeta, load_checkpoint
from mivolo.model.mivolo_model import variant_name
from mivolo.model.preprocessing import crop_face, crop_person, prepare_classification_images
from mivolo.model.structures import PersonAndFaceResult

_logger = logging.getLogger("mivolo")


@dataclass(frozen=True)
class Meta:
    """Checkpoint facts plus how this run uses faces and bodies (the published `Meta`)."""

    min_age: float
    max_age: float
    avg_age: float
    only_age: bool
    with_persons_model: bool
    input_size: int
    disable_faces: bool
    use_persons: bool

    @property
    def num_classes(self) -> int:
        return 1 if self.only_age else 3

    @property
    def in_chans(self) -> int:
        return 6 if self.with_persons_model else 3

    @property
    def use_person_crops(self) -> bool:
        return self.use_persons and self.with_persons_model

    @property
    def use_face_crops(self) -> bool:
        return not self.disable_faces

    @classmethod
    def from_checkpoint(cls, meta: CheckpointMeta, disable_faces: bool, use_persons: bool) -> "Meta":
        if not meta.with_persons_model and disable_faces:
            raise MiVOLOError("--disable-faces needs a face+body checkpoint; this one is face-only")
        if meta.with_persons_model and disable_faces and not use_persons:
            raise MiVOLOError("faces and persons cannot both be disabled: add --with-persons to use --disable-faces")
        return cls(
            min_age=meta.min_age,
            max_age=meta.max_age,
            avg_age=meta.avg_age,
            only_age=meta.no_gender,
            with_persons_model=meta.with_persons_model,
            input_size=meta.input_size,
            disable_faces=disable_faces,
            use_persons=use_persons,
        )


@dataclass(frozen=True)
class BatchRow:
    """One network input: a face and/or a body, as indices into the detections."""

    face_index: Optional[int]
    person_index: Optional[int]


def compose_rows(detections: PersonAndFaceResult, use_faces: bool, use_persons: bool) -> List[BatchRow]:
    """Rows in the published order: faces with a body, faces alone, then bodies alone."""
    pairs = [(face, person) for face, person in detections.face_to_person_map.items() if person is not None]
    lone_faces = [face for face, person in detections.face_to_person_map.items() if person is None]
    lone_persons = detections.unassigned_persons_inds
    if use_faces and use_persons:
        return (
            [BatchRow(face, person) for face, person in pairs]
            + [BatchRow(face, None) for face in lone_faces]
            + [BatchRow(None, person) for person in lone_persons]
        )
    if use_faces:
        return [BatchRow(face, None) for face, _ in pairs] + [BatchRow(face, None) for face in lone_faces]
    return [BatchRow(None, person) for _, person in pairs] + [BatchRow(None, person) for person in lone_persons]


class MiVOLO:
    def __init__(
        self,
        ckpt_path: str,
        device: str = "cuda",
        half: bool = True,
        disable_faces: bool = False,
        use_persons: bool = True,
        verbose: bool = False,
        backend: Optional[str] = None,
    ):
        """backend: torch, onnx or openvino; None picks it from the file (`.onnx`, `.xml`, else torch)."""
        self.verbose = verbose
        self.device = resolve_device(device)
        self.backend = mivolo_backend_for(ckpt_path, backend)
        if self.backend == TORCH:
            self._load_torch(ckpt_path, half)
        else:
            self._load_exported(ckpt_path)
        self.meta = Meta.from_checkpoint(self.checkpoint_meta, disable_faces=disable_faces, use_persons=use_persons)
        self.input_size = self.meta.input_size
        self.data_config = {
            "input_size": (self.meta.in_chans, self.input_size, self.input_size),
            "mean": IMAGENET_DEFAULT_MEAN,
            "std": IMAGENET_DEFAULT_STD,
            "crop_pct": 1.0,
        }
        if verbose:
            _logger.info(
                "MiVOLO %s loaded from %s (%s, %d params, age %.1f..%.1f, avg %.1f)",
                self.model_name,
                ckpt_path,
                self.file_format,
                self.param_count,
                self.meta.min_age,
                self.meta.max_age,
                self.meta.avg_age,
            )

    def _load_torch(self, ckpt_path: str, half: bool) -> None:
        self.half = half and self.device.type != "cpu"
        checkpoint = load_checkpoint(ckpt_path)
        self.checkpoint_meta = checkpoint.meta
        self.file_format = f"{checkpoint.file_format} format"
        self.model = checkpoint.build_model().to(self.device)
        if self.half:
            self.model = self.model.half()
        self.exported = None
        self.model_name = variant_name(checkpoint.meta.input_size, checkpoint.meta.in_chans)
        self.param_count = sum(p.numel() for p in self.model.parameters())

    def _load_exported(self, ckpt_path: str) -> None:
        self.half = False  # exports are fp32
        self.exported = load_exported_mivolo(ckpt_path, self.backend, self.device)
        self.checkpoint_meta = self.exported.meta
        self.file_format = f"exported, {self.backend} backend"
        self.model = None
        self.model_name = self.exported.architecture
        self.param_count = self.exported.param_count

    def warmup(self, batch_size: int, steps: int = 3) -> None:
        dummy = torch.randn((batch_size, self.meta.in_chans, self.input_size, self.input_size), device=self.device)
        for _ in range(steps):
            self.inference(dummy)

    def inference(self, model_input: torch.Tensor) -> torch.Tensor:
        if self.exported is not None:
            return self.exported(model_input)
        with torch.no_grad():
            if self.half:
                model_input = model_input.half()
            return self.model(model_input.to(self.device))

    def prepare_crops(
        self, image: np.ndarray, detected_bboxes: PersonAndFaceResult
    ) -> Tuple[Optional[torch.Tensor], List[BatchRow]]:
        """The model input for every estimable person, and which boxes each row belongs to.

        A row whose face and body crops are both unusable is left out: that person is unknown
        (the published code would estimate it from a blank input).
        """
        if self.meta.use_person_crops and self.meta.use_face_crops:
            detected_bboxes.associate_faces_with_persons()
        boxes = detected_bboxes.int_boxes
        labels = detected_bboxes.labels
        face_crops, body_crops, rows = [], [], []
        for row in compose_rows(detected_bboxes, self.meta.use_face_crops, self.meta.use_person_crops):
            face = None if row.face_index is None else crop_face(image, boxes[row.face_index])
            body = None if row.person_index is None else crop_person(image, row.person_index, boxes, labels)
            if face is None and body is None:
                continue
            face_crops.append(face)
            body_crops.append(body)
            rows.append(row)
        if not rows:
            return None, []
        mean, std = self.data_config["mean"], self.data_config["std"]
        model_input = prepare_classification_images(face_crops, self.input_size, mean, std)
        if self.meta.with_persons_model:
            bodies = prepare_classification_images(body_crops, self.input_size, mean, std)
            model_input = torch.cat((model_input, bodies), dim=1)
        return model_input, rows

    def predict(self, image: np.ndarray, detected_bboxes: PersonAndFaceResult) -> None:
        model_input, rows = self.prepare_crops(image, detected_bboxes)
        if model_input is None:
            return
        self.fill_in_results(self.inference(model_input), detected_bboxes, rows)

    def decode(self, output: torch.Tensor) -> List[Tuple[float, Optional[str], Optional[float]]]:
        """Network output -> (age in years rounded to 2 decimals, gender, gender score) per row."""
        if self.meta.only_age:
            age_output, gender_probs, gender_index = output[:, 0], None, None
        else:
            age_output = output[:, 2]
            gender_probs, gender_index = output[:, :2].softmax(-1).topk(1)
        decoded = []
        for row in range(output.shape[0]):
            age = round(self.checkpoint_meta.denormalize_age(age_output[row].item()), 2)
            if gender_probs is None:
                decoded.append((age, None, None))
            else:
                gender = "male" if gender_index[row].item() == 0 else "female"
                decoded.append((age, gender, gender_probs[row].item()))
        return decoded

    def fill_in_results(self, output: torch.Tensor, detected_bboxes: PersonAndFaceResult, rows: List[BatchRow]):
        if output.shape[0] != len(rows):
            raise ValueError(f"{output.shape[0]} network outputs for {len(rows)} batch rows")
        for row, (age, gender, score) in zip(rows, self.decode(output)):
            for index in (row.face_index, row.person_index):
                detected_bboxes.set_age(index, age)
                if gender is not None:
                    detected_bboxes.set_gender(index, gender, score)
            _logger.debug("face %s person %s: age %.2f gender %s (%s)", row.face_index, row.person_index, age, gender, score)
