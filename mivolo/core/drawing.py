"""Drawing people on a frame: each person's body and face box, labelled so that every label reads.

Labels follow the published form, `id:<track> <class> <age> <M|F>` (e.g. `person 31.5 M`); a
face and its body share a colour. The body's label stands on the bottom edge of its box and the
face's above the face, so a face near the top of its body never hides the body's label; labels
that would still overlap (a crowd) are moved apart by supervision's smart label positioning.
Boxes and labels are sized for the frame's resolution.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np

FACE, BODY = "face", "person"


@dataclass(frozen=True)
class DrawnPerson:
    """What is drawn for one person: their boxes (xyxy, either may be None) and the label's estimate."""

    body_box: Optional[Sequence[float]]
    face_box: Optional[Sequence[float]]
    age: Optional[float]
    gender: Optional[str]
    track_id: Optional[int] = None
    colour: int = 0  # palette index shared by the face and the body


def label(kind: str, person: DrawnPerson) -> str:
    text = ("" if person.track_id is None else f"id:{person.track_id} ") + kind
    if person.age is not None:
        text += f" {person.age:.1f}"
    if person.gender is not None:
        text += " F" if person.gender == "female" else " M"
    return text


def draw_people(image: np.ndarray, people: Sequence[DrawnPerson]) -> np.ndarray:
    """A copy of the BGR image with every person's boxes and labels drawn."""
    import supervision as sv

    canvas = image.copy()
    boxes, anchors, texts, colours = [], [], [], []
    for person in people:
        if person.body_box is not None:
            x1, _, x2, y2 = person.body_box
            boxes.append(person.body_box)
            anchors.append([x1, y2, x2, y2])  # the label stands on the body's bottom edge
            texts.append(label(BODY, person))
            colours.append(person.colour)
        if person.face_box is not None:
            boxes.append(person.face_box)
            anchors.append(person.face_box)  # above the face
            texts.append(label(FACE, person))
            colours.append(person.colour)
    if not boxes:
        return canvas
    resolution = (image.shape[1], image.shape[0])
    thickness = sv.calculate_optimal_line_thickness(resolution)
    lookup = np.array(colours, dtype=np.int64)
    drawn = sv.BoxAnnotator(thickness=thickness, color_lookup=sv.ColorLookup.INDEX)
    canvas = drawn.annotate(canvas, sv.Detections(xyxy=np.array(boxes, np.float32)), custom_color_lookup=lookup)
    # one annotator for every label, so that smart positioning moves overlapping ones apart
    labels = sv.LabelAnnotator(
        color_lookup=sv.ColorLookup.INDEX,
        text_position=sv.Position.TOP_LEFT,
        text_scale=sv.calculate_optimal_text_scale(resolution),
        text_padding=max(2, thickness * 2),
        smart_position=True,
    )
    return labels.annotate(canvas, sv.Detections(xyxy=np.array(anchors, np.float32)), texts, custom_color_lookup=lookup)
