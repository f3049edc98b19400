"""Detections and their age/gender estimates, in the published MiVOLO API.

`PersonAndFaceResult` keeps the published API (built from an ultralytics `Results`, per-box
`ages`, `genders`, `gender_scores`, `face_to_person_map`). Its faces are matched to bodies once,
into the project's per-frame record (`record`, a `mivolo.core.record.People`), which MiVOLO then
fills. `PersonEstimate` is the typed per-human view the image run exports: one record per
person, whether seen by face, body or both.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from ultralytics.engine.results import Results

from mivolo.core.drawing import DrawnPerson, draw_people, label
from mivolo.core.errors import MiVOLOError
from mivolo.core.geometry import clamp_boxes, to_int_boxes
from mivolo.core.record import (
    DETECTOR_CLASSES,
    FACE_LABEL,
    NO_INDEX,
    PERSON_LABEL,
    People,
    gender_name,
    people_from_detections,
)


@dataclass
class PersonEstimate:
    """One human: their body box and/or face box, and the age/gender estimate of the pair."""

    person_index: Optional[int]
    face_index: Optional[int]
    person_box: Optional[List[float]]
    face_box: Optional[List[float]]
    age: Optional[float]
    gender: Optional[str]
    gender_score: Optional[float]
    track_id: Optional[int] = None

    def to_dict(self) -> dict:
        return asdict(self)


class PersonAndFaceResult:
    """Detector output for one image, with MiVOLO's estimates filled in per box."""

    def __init__(self, results: Results):
        self.yolo_results = results
        names = set(results.names.values())
        missing = [name for name in DETECTOR_CLASSES if name not in names]
        if missing:
            raise MiVOLOError(
                f"the detector must have classes 'person' and 'face'; it has {sorted(names)} (missing {missing})"
            )
        self.face_to_person_map: Dict[int, Optional[int]] = {ind: None for ind in self.get_bboxes_inds(FACE_LABEL)}
        self.unassigned_persons_inds: List[int] = self.get_bboxes_inds(PERSON_LABEL)
        self.associated = False
        self._record: Optional[People] = None
        n_objects = self.n_objects
        self.ages: List[Optional[float]] = [None] * n_objects
        self.genders: List[Optional[str]] = [None] * n_objects
        self.gender_scores: List[Optional[float]] = [None] * n_objects

    @classmethod
    def from_boxes(
        cls,
        image: np.ndarray,
        boxes_xyxy: Sequence[Sequence[float]],
        labels: Sequence[str],
        confidences: Optional[Sequence[float]] = None,
        track_ids: Optional[Sequence[int]] = None,
    ) -> "PersonAndFaceResult":
        """Build from plain boxes (scripted detections, another detector, a tracker)."""
        names = {index: name for index, name in enumerate(DETECTOR_CLASSES)}
        class_of = {name: index for index, name in names.items()}
        n = len(boxes_xyxy)
        confidences = [1.0] * n if confidences is None else confidences
        columns = [torch.as_tensor(np.asarray(boxes_xyxy, dtype=np.float32).reshape(n, 4))]
        if track_ids is not None:
            columns.append(torch.as_tensor(track_ids, dtype=torch.float32).reshape(n, 1))
        columns.append(torch.as_tensor(confidences, dtype=torch.float32).reshape(n, 1))
        columns.append(torch.as_tensor([class_of[label] for label in labels], dtype=torch.float32).reshape(n, 1))
        data = torch.cat(columns, dim=1) if n else torch.zeros((0, 7 if track_ids is not None else 6))
        return cls(Results(orig_img=image, path="", names=names, boxes=data))

    # ---- box access -------------------------------------------------------------------------

    @property
    def n_objects(self) -> int:
        return len(self.yolo_results.boxes)

    @property
    def n_faces(self) -> int:
        return len(self.get_bboxes_inds(FACE_LABEL))

    @property
    def n_persons(self) -> int:
        return len(self.get_bboxes_inds(PERSON_LABEL))

    @property
    def labels(self) -> List[str]:
        names = self.yolo_results.names
        return [names[int(c)] for c in self.yolo_results.boxes.cls.tolist()]

    @property
    def boxes_xyxy(self) -> np.ndarray:
        """Detector boxes as float xyxy, N x 4."""
        return self.yolo_results.boxes.xyxy.detach().cpu().numpy().reshape(-1, 4)

    @property
    def int_boxes(self) -> np.ndarray:
        """Boxes truncated to int32, unclamped (what crops and association use)."""
        return to_int_boxes(self.boxes_xyxy)

    @property
    def confidences(self) -> List[float]:
        return self.yolo_results.boxes.conf.tolist()

    @property
    def track_ids(self) -> List[Optional[int]]:
        ids = self.yolo_results.boxes.id
        return [None] * self.n_objects if ids is None else [int(i) for i in ids.tolist()]

    def get_bboxes_inds(self, category: str) -> List[int]:
        return [ind for ind, label in enumerate(self.labels) if label == category]

    def get_bbox_by_ind(self, ind: int, im_h: Optional[int] = None, im_w: Optional[int] = None) -> torch.Tensor:
        box = self.int_boxes[ind : ind + 1]
        if im_h is not None and im_w is not None:
            box = clamp_boxes(box, im_h, im_w)
        return torch.as_tensor(box[0], dtype=torch.int32)

    # ---- association and results ------------------------------------------------------------

    def associate_faces_with_persons(self) -> None:
        """Match faces to bodies (shared spec section 5) into `record`, one row per person."""
        self._record = people_from_detections(self.boxes_xyxy, self.labels, self.confidences)
        record = self._record
        self.face_to_person_map = {
            int(face): (None if body == NO_INDEX else int(body))
            for face, body in zip(record.face_index, record.body_index)
            if face != NO_INDEX
        }
        self.unassigned_persons_inds = [int(body) for body, face in zip(record.body_index, record.face_index) if face == NO_INDEX]
        self.associated = True

    @property
    def record(self) -> People:
        """The people of this image, faces associated with bodies (computed once)."""
        if self._record is None:
            self.associate_faces_with_persons()
        return self._record

    def fill_from(self, people: People) -> None:
        """Write the estimates of `people` (this result's record, filled by MiVOLO) onto its boxes."""
        self._record = people
        for row in range(len(people)):
            if np.isnan(people.age[row]):
                continue
            gender, score = gender_name(people.gender[row]), float(people.gender_score[row])
            for estimated, index in ((people.face_estimated, people.face_index), (people.body_estimated, people.body_index)):
                if estimated[row]:
                    self.set_age(int(index[row]), float(people.age[row]))
                    if gender is not None:
                        self.set_gender(int(index[row]), gender, score)

    def set_age(self, ind: Optional[int], age: Optional[float]) -> None:
        if ind is not None:
            self.ages[ind] = age

    def set_gender(self, ind: Optional[int], gender: Optional[str], gender_score: Optional[float]) -> None:
        if ind is not None:
            self.genders[ind] = gender
            self.gender_scores[ind] = gender_score

    def people(self) -> List[PersonEstimate]:
        """One record per human: face+body pairs, faces without a body, bodies without a face."""
        record = self.record
        boxes = self.boxes_xyxy
        ids = self.track_ids
        records = []
        for body, face in zip(record.body_index.tolist(), record.face_index.tolist()):
            person = None if body == NO_INDEX else body
            face = None if face == NO_INDEX else face
            source = face if face is not None and self.ages[face] is not None else person
            source = source if source is not None else face
            records.append(
                PersonEstimate(
                    person_index=person,
                    face_index=face,
                    person_box=None if person is None else [round(float(v), 2) for v in boxes[person]],
                    face_box=None if face is None else [round(float(v), 2) for v in boxes[face]],
                    age=self.ages[source],
                    gender=self.genders[source],
                    gender_score=self.gender_scores[source],
                    track_id=ids[person if person is not None else face],
                )
            )
        return records

    # ---- drawing ----------------------------------------------------------------------------

    def box_label(self, ind: int) -> str:
        """`id:<track> <class> <age> <M|F>`, e.g. `person 31.5 M`."""
        drawn = DrawnPerson(None, None, self.ages[ind], self.genders[ind], self.track_ids[ind])
        return label(self.labels[ind], drawn)

    def plot(self, img: Optional[np.ndarray] = None, line_width: Optional[int] = None) -> np.ndarray:
        """The image with every person's boxes and labels drawn (BGR); `line_width` is kept for the
        published signature, the width follows the image size."""
        image = self.yolo_results.orig_img if img is None else img
        people = [
            DrawnPerson(person.person_box, person.face_box, person.age, person.gender, person.track_id, colour=index)
            for index, person in enumerate(self.people())
        ]
        return draw_people(image, people)
