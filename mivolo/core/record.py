"""The per-frame record: the people of one frame, one row each, as arrays (like supervision's
`Detections`).

A person is one row whether seen by face, by body or both. The detector stage fills the boxes
(faces already associated with bodies, once), MiVOLO the estimate columns, the tracker the track
columns (keeping only tracked rows), the aggregator the track's aggregated answer; annotators and
sinks only read. `data` holds extension columns (one array per key, one value per row).

Missing values: a NaN box row (no face, no body), NaN age and score, gender -1, track ID -1.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Optional, Sequence

import numpy as np

from mivolo.core.geometry import assign_faces, estimate_body_boxes, to_int_boxes

FACE_LABEL = "face"
PERSON_LABEL = "person"
DETECTOR_CLASSES = (PERSON_LABEL, FACE_LABEL)
GENDERS = ("male", "female")  # the network's gender outputs, in order
NO_GENDER = -1
NO_TRACK = -1
NO_INDEX = -1  # a person without a face (or body) box has no detector index for it


# every column that each People has: (dtype, missing value, width for box columns)
_COLUMNS = {
    "body_xyxy": (np.float32, np.nan, 4),
    "face_xyxy": (np.float32, np.nan, 4),
    "confidence": (np.float32, np.nan, None),
    "body_index": (np.int32, NO_INDEX, None),
    "face_index": (np.int32, NO_INDEX, None),
    "age": (np.float64, np.nan, None),
    "gender": (np.int8, NO_GENDER, None),
    "gender_score": (np.float64, np.nan, None),
    "face_estimated": (bool, False, None),
    "body_estimated": (bool, False, None),
    "track_id": (np.int64, NO_TRACK, None),
    "track_xyxy": (np.float32, np.nan, 4),
}
# columns a later stage adds (None until then)
_STAGE_COLUMNS = {
    "embedding": np.float32,
    "track_age": np.float64,
    "track_gender": np.int8,
    "track_gender_score": np.float64,
    "track_vote_share": np.float64,
    "track_frames": np.int64,
    "best_so_far": bool,
}


def gender_code(gender: Optional[str]) -> int:
    return NO_GENDER if gender is None else GENDERS.index(gender)


def gender_name(code: int) -> Optional[str]:
    return None if code == NO_GENDER else GENDERS[int(code)]


def optional(value) -> Optional[float]:
    """A float column's value as a number, or None where it is missing (NaN)."""
    value = float(value)
    return None if np.isnan(value) else value


def box_or_none(row: np.ndarray) -> Optional[list]:
    return None if np.isnan(row).any() else [float(v) for v in row]


@dataclass
class People:
    """One frame's people (see the module doc). Build with `People.create(...)`."""

    body_xyxy: np.ndarray  # N x 4 float32
    face_xyxy: np.ndarray  # N x 4 float32
    confidence: np.ndarray  # N float32: the higher of the face and body detection confidences
    body_index: np.ndarray  # N int32: the body's index among the detector's boxes
    face_index: np.ndarray  # N int32
    # MiVOLO: the estimate of this frame, and which of the person's boxes it was made for
    age: np.ndarray  # N float64, years
    gender: np.ndarray  # N int8, index into GENDERS
    gender_score: np.ndarray  # N float64, the network's probability of that gender
    face_estimated: np.ndarray  # N bool
    body_estimated: np.ndarray  # N bool
    # the tracker
    track_id: np.ndarray  # N int64
    track_xyxy: np.ndarray  # N x 4 float32: the tracker's (Kalman-filtered) box
    embedding: Optional[np.ndarray] = None  # N x D float32 Re-ID embeddings (BoT-SORT with Re-ID)
    # the aggregator: the track's answer as of this frame
    track_age: Optional[np.ndarray] = None  # N float64
    track_gender: Optional[np.ndarray] = None  # N int8
    track_gender_score: Optional[np.ndarray] = None  # N float64
    track_vote_share: Optional[np.ndarray] = None  # N float64
    track_frames: Optional[np.ndarray] = None  # N int64: analysed frames the track has been seen in
    best_so_far: Optional[np.ndarray] = None  # N bool: this frame's prediction is the track's best yet
    data: Dict[str, np.ndarray] = field(default_factory=dict)

    @classmethod
    def create(cls, n: int, data: Optional[Dict[str, np.ndarray]] = None, **columns: Any) -> "People":
        """N rows; columns not given are missing (NaN / -1 / False), stage columns None."""
        unknown = set(columns) - set(_COLUMNS) - set(_STAGE_COLUMNS)
        if unknown:
            raise TypeError(f"unknown People columns: {', '.join(sorted(unknown))}")
        values = {}
        for name, (dtype, missing, width) in _COLUMNS.items():
            shape = (n, width) if width else (n,)
            given = columns.get(name)
            values[name] = np.full(shape, missing, dtype) if given is None else np.asarray(given, dtype).reshape(shape)
        for name, dtype in _STAGE_COLUMNS.items():
            given = columns.get(name)
            values[name] = None if given is None else np.asarray(given, dtype)
        return cls(**values, data=dict(data or {}))

    @classmethod
    def empty(cls) -> "People":
        return cls.create(0)

    def __len__(self) -> int:
        return len(self.confidence)

    def __getitem__(self, selection) -> "People":
        """The rows picked by an index array, a boolean mask or a slice, every column with them."""
        picked = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if item.name == "data":
                picked["data"] = {key: column[selection] for key, column in value.items()}
            else:
                picked[item.name] = None if value is None else value[selection]
        return People(**picked)

    def with_columns(self, **columns) -> "People":
        """A copy with these columns replaced (each a full column for the same rows)."""
        return replace(self, **columns)

    @property
    def has_body(self) -> np.ndarray:
        return ~np.isnan(self.body_xyxy).any(axis=1)

    @property
    def has_face(self) -> np.ndarray:
        return ~np.isnan(self.face_xyxy).any(axis=1)

    @property
    def has_estimate(self) -> np.ndarray:
        return ~np.isnan(self.age)

    @property
    def display_xyxy(self) -> np.ndarray:
        """The box a person is shown and cropped by: the body, else the face."""
        return np.where(self.has_body[:, None], self.body_xyxy, self.face_xyxy)

    @property
    def tracking_xyxy(self) -> np.ndarray:
        """The box the tracker follows: the body, else a body estimated from the face."""
        return np.where(self.has_body[:, None], self.body_xyxy, estimate_body_boxes(self.face_xyxy))

    @property
    def location(self) -> np.ndarray:
        """N x 2: the centre of the display box."""
        boxes = self.display_xyxy
        return (boxes[:, :2] + boxes[:, 2:]) / 2


@dataclass
class FrameRecord:
    """One frame of a run: where it is in the source, its pixels and its people.

    `analysed` is False for a frame only decoded to be drawn (--skip-frames): it then carries the
    people of the last analysed frame. `corrupt` frames have no image.
    """

    index: int  # 0-based position in the source (the image's position in an image run)
    time_s: float
    image: Optional[np.ndarray]
    people: People
    analysed: bool = True
    corrupt: bool = False
    source: Optional[str] = None  # the image file of an image run
    name: Optional[str] = None  # an image run's unique stem for this image's output files
    error: Optional[str] = None  # why a frame or image could not be read (`corrupt`)


def people_from_detections(
    boxes_xyxy: np.ndarray, labels: Sequence[str], confidences: Sequence[float]
) -> People:
    """The people of one frame of detector output: faces matched to bodies (shared spec section
    5), one row per face (with its body, if any) in face order, then the bodies left alone."""
    boxes = np.asarray(boxes_xyxy, dtype=np.float32).reshape(-1, 4)
    confidences = np.asarray(confidences, dtype=np.float32).reshape(-1)
    face_inds = [i for i, name in enumerate(labels) if name == FACE_LABEL]
    person_inds = [i for i, name in enumerate(labels) if name == PERSON_LABEL]
    int_boxes = to_int_boxes(boxes)
    association = assign_faces(int_boxes[person_inds], int_boxes[face_inds])
    pairs = [
        (None if person is None else person_inds[person], face)
        for face, person in zip(face_inds, association.person_of_face)
    ]
    pairs += [(person_inds[position], None) for position in association.unassigned_persons]
    n = len(pairs)
    body_index = np.array([NO_INDEX if body is None else body for body, _ in pairs], np.int32)
    face_index = np.array([NO_INDEX if face is None else face for _, face in pairs], np.int32)
    nan_box = np.full(4, np.nan, np.float32)
    body_xyxy = np.array([nan_box if i < 0 else boxes[i] for i in body_index], np.float32).reshape(n, 4)
    face_xyxy = np.array([nan_box if i < 0 else boxes[i] for i in face_index], np.float32).reshape(n, 4)
    confidence = np.array(
        [max(confidences[i] for i in (body, face) if i is not None) for body, face in pairs], np.float32
    )
    return People.create(
        n, body_xyxy=body_xyxy, face_xyxy=face_xyxy, confidence=confidence, body_index=body_index, face_index=face_index
    )
