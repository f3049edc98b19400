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


@dataclass(frozen=True)
class DrawnZone:
    """A zone's outline (pixel points) and the people inside it now."""

    name: str
    points: Sequence[Sequence[float]]
    count: int


@dataclass(frozen=True)
class DrawnLine:
    """A directed line and its running in / out counts."""

    name: str
    start: Sequence[float]
    end: Sequence[float]
    crossed_in: int
    crossed_out: int


ZONE_COLOUR_INDEX = 3  # supervision's default palette: zones and lines in one colour apart from people's first


def draw_zones(canvas: np.ndarray, zones: Sequence[DrawnZone], lines: Sequence[DrawnLine]) -> np.ndarray:
    """Draw on the BGR canvas, in place, each zone's outline and count and each line with its
    counts (supervision's drawing functions: its zone annotators need its own zone objects, whose
    counts would be those of the drawing thread's frame, not this one's)."""
    import supervision as sv

    resolution = (canvas.shape[1], canvas.shape[0])
    thickness = sv.calculate_optimal_line_thickness(resolution)
    scale = sv.calculate_optimal_text_scale(resolution)
    colour = sv.ColorPalette.DEFAULT.by_idx(ZONE_COLOUR_INDEX)
    for zone in zones:
        polygon = np.round(np.asarray(zone.points, np.float64)).astype(np.int64)
        canvas = sv.draw_polygon(canvas, polygon, colour, thickness)
        centre = polygon.mean(axis=0)
        canvas = sv.draw_text(
            canvas, f"{zone.name}: {zone.count}", sv.Point(*centre), sv.Color.WHITE, scale, 1, 2, background_color=colour
        )
    for line in lines:
        canvas = sv.draw_line(canvas, sv.Point(*line.start), sv.Point(*line.end), colour, thickness)
        middle = (np.asarray(line.start, np.float64) + np.asarray(line.end, np.float64)) / 2
        text = f"{line.name} in {line.crossed_in} out {line.crossed_out}"
        canvas = sv.draw_text(canvas, text, sv.Point(*middle), sv.Color.WHITE, scale, 1, 2, background_color=colour)
    return canvas
