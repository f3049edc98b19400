"""Box geometry and face-to-person association (shared spec, section 5).

Boxes are integer xyxy (truncated from the detector's floats). The arithmetic mirrors the
published code: integer areas and intersections, float32 ratios, so the same threshold
decisions are taken.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import List, Optional, Sequence

import numpy as np

ASSOCIATION_MIN_COST = 1e-4
# A body box estimated from a face box, in face widths / heights (rough adult proportions): the
# body is 3 face widths wide, centred on the face, starting half a face above it, 7 faces tall.
BODY_WIDTH_IN_FACES = 3.0
BODY_TOP_ABOVE_FACE = 0.5
BODY_HEIGHT_IN_FACES = 7.0


def to_int_boxes(boxes) -> np.ndarray:
    """Float xyxy -> int32 by truncation toward zero (the published cast)."""
    return np.asarray(boxes, dtype=np.float64).reshape(-1, 4).astype(np.int32)


def clamp_boxes(boxes: np.ndarray, height: int, width: int) -> np.ndarray:
    """Clamp x to [0, W-1] and y to [0, H-1]."""
    clamped = np.array(boxes, dtype=np.int32).reshape(-1, 4)
    clamped[:, 0::2] = np.clip(clamped[:, 0::2], 0, width - 1)
    clamped[:, 1::2] = np.clip(clamped[:, 1::2], 0, height - 1)
    return clamped


def box_iou(boxes1, boxes2, over_second: bool = False, dtype=np.float32) -> np.ndarray:
    """Pairwise IoU of int boxes (N x M). With `over_second`: mean(IoU, intersection / area2).

    Ratios are float32 as in the published inference path; the published evaluation path
    divides in float64 (`dtype=np.float64`), which decides IoU thresholds differently at the edge.
    """
    a = np.asarray(boxes1, dtype=np.int64).reshape(-1, 4)
    b = np.asarray(boxes2, dtype=np.int64).reshape(-1, 4)
    area1 = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area2 = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    wh = np.minimum(a[:, None, 2:], b[None, :, 2:]) - np.maximum(a[:, None, :2], b[None, :, :2])
    inter = np.clip(wh, 0, None).prod(axis=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        union = (area1[:, None] + area2[None, :] - inter).astype(dtype)
        iou = inter.astype(dtype) / union
        if over_second:
            return (inter.astype(dtype) / area2[None, :].astype(dtype) + iou) / dtype(2)
    return iou


@dataclass(frozen=True)
class Association:
    """Result of matching faces to persons, as positions in the given box lists."""

    person_of_face: List[Optional[int]]  # face position -> person position or None
    unassigned_persons: List[int]


def assign_faces(person_boxes: Sequence, face_boxes: Sequence, min_cost: float = ASSOCIATION_MIN_COST) -> Association:
    """Hungarian matching maximising (intersection / face area + IoU) / 2; pairs need cost > min_cost."""
    n_persons, n_faces = len(person_boxes), len(face_boxes)
    person_of_face: List[Optional[int]] = [None] * n_faces
    if n_persons == 0 or n_faces == 0:
        return Association(person_of_face, list(range(n_persons)))
    from scipy.optimize import linear_sum_assignment  # scipy.optimize takes a second to import: only when matching

    cost = box_iou(person_boxes, face_boxes, over_second=True)
    cost = np.nan_to_num(cost, nan=0.0, posinf=0.0, neginf=0.0)  # degenerate (zero-area) boxes match nothing
    matched = set()
    for person, face in zip(*linear_sum_assignment(cost, maximize=True)):
        if cost[person, face] > min_cost and person not in matched:
            person_of_face[face] = int(person)
            matched.add(int(person))
    return Association(person_of_face, [p for p in range(n_persons) if p not in matched])


def estimate_body_boxes(face_xyxy) -> np.ndarray:
    """N x 4 float32 body boxes estimated from face boxes (BODY_* proportions above)."""
    faces = np.asarray(face_xyxy, dtype=np.float64).reshape(-1, 4)
    width, height = faces[:, 2] - faces[:, 0], faces[:, 3] - faces[:, 1]
    centre_x = (faces[:, 0] + faces[:, 2]) / 2
    top = faces[:, 1] - BODY_TOP_ABOVE_FACE * height
    half_width = BODY_WIDTH_IN_FACES * width / 2
    bodies = np.stack([centre_x - half_width, top, centre_x + half_width, top + BODY_HEIGHT_IN_FACES * height], axis=1)
    return bodies.astype(np.float32)
