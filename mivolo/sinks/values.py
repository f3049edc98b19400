"""How people are written out: age buckets, gender words, rounding, relative paths, track boxes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Optional, Tuple

import numpy as np

from mivolo.core.record import People, gender_name, optional

AGE_BUCKETS = (
    ("age_under_13", 0, 12),
    ("age_teen", 13, 19),
    ("age_twenty", 20, 29),
    ("age_thirty", 30, 39),
    ("age_forty", 40, 49),
    ("age_fifty", 50, 59),
    ("age_sixty", 60, 69),
    ("age_seventy", 70, None),
)
GENDER_WORDS = {"male": "man", "female": "woman"}


def age_bucket(age: Optional[float]) -> Optional[str]:
    """The bucket of the age as shown (rounded to whole years)."""
    if age is None:
        return None
    years = max(0, int(round(age)))
    for name, low, high in AGE_BUCKETS:
        if years >= low and (high is None or years <= high):
            return name
    return None


def gender_word(gender: Optional[str]) -> Optional[str]:
    return GENDER_WORDS.get(gender) if gender is not None else None


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
