"""The words people are reported with: age buckets and gender words (shared by the sinks and the
zone analytics, which split their counts by them)."""

from __future__ import annotations

from typing import Optional

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
GENDER_GROUPS = ("man", "woman", "unknown")  # how counts are split by gender


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
