"""`python -m mivolo.devtools.scripted --people K`: demo.py under a fixed load, for benchmarks and tests.

The detector's forward pass still runs on every frame (its cost is real), but its boxes are
replaced by K people laid out on a grid, each a body box with a face box at its top, walking
left and right inside their cell. Every frame then has exactly K persons and K faces, whatever
the (random-weight) detector proposes.
"""

from __future__ import annotations

import math
from typing import List, Optional, Sequence

import numpy as np

from mivolo.core.record import FACE_LABEL, PERSON_LABEL, People, people_from_detections

SCRIPTED_CONFIDENCE = 0.9
STEP_PX_PER_FRAME = 3.0  # walking speed


def scripted_boxes(frame_number: int, width: int, height: int, people: int) -> np.ndarray:
    """2K x 4 xyxy boxes: person i's body at 2i, its face at 2i + 1."""
    if people == 0:
        return np.zeros((0, 4), np.float32)
    columns = math.ceil(math.sqrt(people * width / height))
    rows = math.ceil(people / columns)
    cell_w, cell_h = width / columns, height / rows
    body_w, body_h = cell_w * 0.45, cell_h * 0.9
    face = body_w * 0.5
    travel = cell_w - body_w - 2  # the body stays inside its cell, so people never overlap
    boxes = []
    for person in range(people):
        column, row = person % columns, person // columns
        offset = (frame_number * STEP_PX_PER_FRAME + person * 7) % (2 * travel)
        x = column * cell_w + 1 + (offset if offset <= travel else 2 * travel - offset)
        y = row * cell_h + (cell_h - body_h) / 2
        boxes.append([x, y, x + body_w, y + body_h])
        face_x = x + (body_w - face) / 2
        boxes.append([face_x, y + 2, face_x + face, y + 2 + face])
    return np.asarray(boxes, np.float32)


class ScriptedDetector:
    """Wraps a Detector: runs it, then answers with `scripted_boxes` for the n-th frame it sees."""

    def __init__(self, detector, people: int):
        self.detector = detector
        self.people = people
        self.frames_seen = 0

    def _scripted(self, image: np.ndarray) -> People:
        height, width = image.shape[:2]
        boxes = scripted_boxes(self.frames_seen, width, height, self.people)
        self.frames_seen += 1
        labels = [PERSON_LABEL, FACE_LABEL] * self.people
        return people_from_detections(boxes, labels, [SCRIPTED_CONFIDENCE] * len(boxes))

    def detect_people(self, images: Sequence[np.ndarray]) -> List[People]:
        self.detector.detect_people(images)
        return [self._scripted(image) for image in images]


def main(argv: Optional[List[str]] = None) -> int:
    """`python -m mivolo.devtools.scripted --people K <demo.py arguments>`: demo.py on K scripted people."""
    import argparse

    from mivolo.cli import demo

    parser = argparse.ArgumentParser(
        prog="python -m mivolo.devtools.scripted",
        description="demo.py with the detector's boxes replaced by K walking people (its forward pass still runs)",
    )
    parser.add_argument("--people", type=int, required=True, metavar="K", help="scripted people per frame")
    scripted, demo_arguments = parser.parse_known_args(argv)
    if scripted.people < 0:
        parser.error("--people must be 0 or more")
    return demo.main(demo_arguments, wrap_detector=lambda detector: ScriptedDetector(detector, scripted.people))


if __name__ == "__main__":
    raise SystemExit(main())
