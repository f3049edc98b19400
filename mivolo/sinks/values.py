"""How people are written out: age buckets, gender words, rounding, relative paths, track boxes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from mivolo.core.demographics import AGE_BUCKETS, GENDER_WORDS, age_bucket, gender_word  # noqa: F401 (re-exported)
from mivolo.core.record import People, gender_name, optional


def rounded(value: Optional[float], digits: int) -> Optional[float]:
    return None if value is None else round(value, digits)


def relative_to(path, folder: Path) -> Optional[str]:
    """`path` relative to `folder` ('/'-separated), None for None."""
    return None if path is None else Path(os.path.relpath(Path(path).resolve(), folder.resolve())).as_posix()


def track_boxes(people: People, frame_size: Tuple[int, int]) -> np.ndarray:
    """The tracker's boxes clipped to the frame (what the MOT file and the JSON report)."""
    width, height = frame_size
    return np.clip(people.track_xyxy, 0, [width, height, width, height])


def track_answer(people: People, row: int) -> Tuple[Optional[float], Optional[str], Optional[float], Optional[float]]:
    """(age, gender, gender score, vote share) of a row's track, None where unknown."""
    return (
        optional(people.track_age[row]),
        gender_name(people.track_gender[row]),
        optional(people.track_gender_score[row]),
        optional(people.track_vote_share[row]),
    )
