"""The published import path of `PersonAndFaceResult` (its code is in mivolo.model.structures)."""

from mivolo.model.structures import PersonAndFaceResult, PersonEstimate

__all__ = ["PersonAndFaceResult", "PersonEstimate"]
