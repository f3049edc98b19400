"""A synthetic crossing scene where appearance is the only cue, with its ground truth.

Two people in different shirts walk towards each other, meet with their boxes overlapping, and
both turn back. A constant-velocity motion model predicts that each carries on through the
other, so motion-only tracking swaps their IDs at the meeting; only appearance can keep them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Tuple

import cv2
import numpy as np

from mivolo.io.safe_output import atomic_path

FRAME_SIZE = (320, 240)  # width, height
BOX_W, BOX_H, TOP = 40, 100, 70
SHIRTS = ((40, 40, 220), (220, 90, 30))  # BGR: person 1 red, person 2 blue
SPEED, MEET_GAP, FRAMES = 6.0, 16.0, 40


def crossing_positions(frames: int = FRAMES) -> Iterator[Tuple[float, float]]:
    """Left edges (x) of person 1 and person 2 in each frame."""
    first, second, velocity = 40.0, 240.0, SPEED
    for _ in range(frames):
        yield first, second
        if second - first <= MEET_GAP and velocity > 0:
            velocity = -velocity
        first, second = first + velocity, second - velocity


def person_box(x: float) -> np.ndarray:
    return np.array([x, TOP, x + BOX_W, TOP + BOX_H], np.float32)


def crossing_frame(first: float, second: float, rng: np.random.Generator) -> np.ndarray:
    width, height = FRAME_SIZE
    image = rng.integers(60, 100, (height, width, 3), dtype=np.uint8)  # textured floor
    for shirt, x in zip(SHIRTS, (first, second)):
        left = round(x)
        image[TOP : TOP + BOX_H, left : left + BOX_W] = shirt
    return image


def write_crossing_video(
    video_path, ground_truth_path, frames: int = FRAMES, fps: float = 10.0, seed: int = 0
) -> Tuple[Path, Path]:
    """The scene as an MJPG .avi and its MOT ground truth (IDs 1 and 2)."""
    video_path, ground_truth_path = Path(video_path), Path(ground_truth_path)
    rng = np.random.default_rng(seed)
    rows = []
    with atomic_path(video_path) as tmp:
        writer = cv2.VideoWriter(str(tmp), cv2.VideoWriter_fourcc(*"MJPG"), fps, FRAME_SIZE)
        try:
            for frame_number, positions in enumerate(crossing_positions(frames), start=1):
                writer.write(crossing_frame(*positions, rng))
                rows += [
                    f"{frame_number},{person},{x:.2f},{TOP},{BOX_W},{BOX_H},1,-1,-1,-1"
                    for person, x in enumerate(positions, 1)
                ]
        finally:
            writer.release()
    with atomic_path(ground_truth_path) as tmp:
        tmp.write_text("\n".join(rows) + "\n")
    return video_path, ground_truth_path
