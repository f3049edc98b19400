"""A person's point for zones and lines: a point of the body box, or of the body box estimated
from the face for a face-only person (the box the tracker follows). The points are those of
supervision's Positions of the same names, computed here directly: building supervision
Detections for them costs more than the rest of a frame's zone tests."""

from __future__ import annotations

import numpy as np

from mivolo.core.record import People

SUPERVISION_POSITIONS = {"bottom-center": "BOTTOM_CENTER", "center": "CENTER", "top-center": "TOP_CENTER"}
VERTICAL_SHARE = {"bottom-center": 1.0, "center": 0.5, "top-center": 0.0}  # of the box's height, from its top


def anchor_position(anchor: str):
    """The supervision Position of an anchor name (mivolo.analytics.zones.ANCHORS)."""
    import supervision as sv

    return sv.Position[SUPERVISION_POSITIONS[anchor]]


def person_boxes(people: People) -> np.ndarray:
    """N x 4 float64: the body boxes, estimated from the face for face-only people."""
    return people.tracking_xyxy.astype(np.float64)


def person_detections(boxes: np.ndarray, track_id: np.ndarray):
    """The people's boxes (`person_boxes`) as supervision Detections with their track IDs."""
    import supervision as sv

    return sv.Detections(xyxy=boxes, tracker_id=track_id.astype(int))


def anchor_points(boxes: np.ndarray, anchor: str) -> np.ndarray:
    """N x 2 pixel points, one per person's box (`person_boxes`)."""
    share = VERTICAL_SHARE[anchor]
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 1] + share * (boxes[:, 3] - boxes[:, 1])], axis=1)
