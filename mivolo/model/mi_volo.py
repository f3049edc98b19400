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

from mivolo.core.errors import MiVOLOError
from mivolo.core.geometry import to_int_boxes
from mivolo.core.record import FACE_LABEL, NO_GENDER, PERSON_LABEL, People
from mivolo.core.runtime import Runtime, cpu_has_bf16
from mivolo.model.backends import TORCH, load_exported_mivolo, mivolo_backend_for
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
    """One network input: a person (a row of the frame's People) and which of their crops it uses."""

    person: int
    face: bool
    body: bool


def compose_rows(people: People, use_faces: bool, use_persons: bool) -> List[BatchRow]:
    """Rows in the published order: faces with a body, faces alone, then bodies alone."""
    has_face, has_body = people.has_face.tolist(), people.has_body.tolist()
    pairs = [row for row in range(len(people)) if has_face[row] and has_body[row]]
    lone_faces = [row for row in range(len(people)) if has_face[row] and not has_body[row]]
    lone_bodies = [row for row in range(len(people)) if has_body[row] and not has_face[row]]
    if use_faces and use_persons:
        return (
            [BatchRow(row, True, True) for row in pairs]
            + [BatchRow(row, True, False) for row in lone_faces]
            + [BatchRow(row, False, True) for row in lone_bodies]
        )
    if use_faces:
        return [BatchRow(row, True, False) for row in pairs + lone_faces]
    return [BatchRow(row, False, True) for row in pairs + lone_bodies]


def frame_boxes(people: People) -> Tuple[np.ndarray, List[str], np.ndarray]:
    """Every box of the frame as int xyxy with its class (what body crops are masked with), and
    each person's position of their body among them (-1 without a body)."""
    has_body, has_face = people.has_body, people.has_face
    boxes = np.concatenate([people.body_xyxy[has_body], people.face_xyxy[has_face]])
    labels = [PERSON_LABEL] * int(has_body.sum()) + [FACE_LABEL] * int(has_face.sum())
    body_position = np.full(len(people), -1, np.int64)
    body_position[has_body] = np.arange(int(has_body.sum()))
    return to_int_boxes(boxes), labels, body_position


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
        *,
        runtime: Optional[Runtime] = None,
    ):
        """The published arguments (device, half), or one resolved `runtime` for the run. The
        backend (torch, onnx, openvino) follows the file (`.onnx`, `.xml`, else torch) unless named."""
        runtime = Runtime.of(runtime, device, half, backend)
        runtime.apply_threads()
        self.runtime = runtime
        self.verbose = verbose
        self.device = runtime.device
        self.backend = mivolo_backend_for(ckpt_path, runtime.backend)
        self.half = runtime.fp16_for(self.backend)
        self.bf16 = runtime.bf16_for(self.backend)
        if self.bf16 and not cpu_has_bf16():
            _logger.warning("--precision bf16: this CPU has no bf16 instructions (torch emulates them slowly, OpenVINO runs fp32)")
        if self.backend == TORCH:
            self._load_torch(ckpt_path)
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
            import cv2

            _logger.info("MiVOLO threads: %s; OpenCV %d threads", self.threads_in_use(), cv2.getNumThreads())

    def _load_torch(self, ckpt_path: str) -> None:
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
        self.exported = load_exported_mivolo(ckpt_path, self.backend, self.runtime)
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
        with torch.no_grad(), torch.autocast("cpu", torch.bfloat16, enabled=self.bf16):
            if self.half:
                model_input = model_input.half()
            return self.model(model_input.to(self.device))

    def threads_in_use(self) -> str:
        """What MiVOLO's library really runs with, read back from it."""
        if self.exported is not None:
            return self.exported.threads_in_use()
        return f"torch {torch.get_num_threads()} threads" + (", bf16 autocast" if self.bf16 else "")

    def prepare(
        self, image: np.ndarray, people: People, due: Optional[np.ndarray] = None
    ) -> Tuple[Optional[torch.Tensor], List[BatchRow]]:
        """The model input for every estimable person of the frame (or those `due` marks), and
        the row of each, in the published order. Bodies are masked against every detection.

        A person whose face and body crops are both unusable is left out: they stay unknown
        (the published code would estimate them from a blank input).
        """
        boxes, labels, body_position = frame_boxes(people)
        face_boxes = to_int_boxes(np.nan_to_num(people.face_xyxy))
        face_crops, body_crops, rows = [], [], []
        for row in compose_rows(people, self.meta.use_face_crops, self.meta.use_person_crops):
            if due is not None and not due[row.person]:
                continue
            face = crop_face(image, face_boxes[row.person]) if row.face else None
            body = crop_person(image, int(body_position[row.person]), boxes, labels) if row.body else None
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

    def estimate(self, image: np.ndarray, people: People) -> People:
        """`people` with this frame's age, gender and gender score filled in."""
        model_input, rows = self.prepare(image, people)
        return people if model_input is None else self.fill(self.inference(model_input), people, rows)

    def predict(self, image: np.ndarray, detected_bboxes: PersonAndFaceResult) -> None:
        """The published entry point: estimates written onto the detections' boxes."""
        detected_bboxes.fill_from(self.estimate(image, detected_bboxes.record))

    def decode(self, output: torch.Tensor) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Network output -> per row: age in years rounded to 2 decimals, gender code, gender score."""
        rows = output.shape[0]
        if self.meta.only_age:
            age_output = output[:, 0]
            genders, scores = np.full(rows, NO_GENDER, np.int8), np.full(rows, np.nan)
        else:
            age_output = output[:, 2]
            gender_probs, gender_index = output[:, :2].softmax(-1).topk(1)
            genders = np.array(gender_index[:, 0].tolist(), np.int8)  # index 0 male, 1 female: GENDERS' order
            scores = np.array([gender_probs[row].item() for row in range(rows)], np.float64)
        ages = np.array([round(self.checkpoint_meta.denormalize_age(age_output[row].item()), 2) for row in range(rows)])
        return ages, genders, scores

    def fill(self, output: torch.Tensor, people: People, rows: List[BatchRow]) -> People:
        """`people` with the estimates of `output` (one row per BatchRow) in their columns."""
        if output.shape[0] != len(rows):
            raise ValueError(f"{output.shape[0]} network outputs for {len(rows)} batch rows")
        positions = np.array([row.person for row in rows], np.int64)
        ages, genders, scores = self.decode(output)
        age, gender, score = people.age.copy(), people.gender.copy(), people.gender_score.copy()
        face_estimated, body_estimated = people.face_estimated.copy(), people.body_estimated.copy()
        age[positions], gender[positions], score[positions] = ages, genders, scores
        face_estimated[positions] = [row.face for row in rows]
        body_estimated[positions] = [row.body for row in rows]
        return people.with_columns(
            age=age, gender=gender, gender_score=score, face_estimated=face_estimated, body_estimated=body_estimated
        )
