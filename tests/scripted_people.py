"""Per-frame records built by hand, for tests about tracking and aggregation (a detector double)."""

import numpy as np

from mivolo.core.record import NO_INDEX, People


def bodies(*boxes, confidence=0.9, **columns) -> People:
    """One person per body box (xyxy), numbered by `body_index` 0, 1, ...; extra columns as given."""
    n = len(boxes)
    return People.create(
        n,
        body_xyxy=np.array(boxes, np.float32).reshape(n, 4),
        body_index=np.arange(n),
        confidence=np.full(n, confidence, np.float32),
        **columns,
    )


def row_ids(tracked: People) -> dict:
    """{(body index or None, face index or None): track ID} of a tracker's output."""

    def index(value):
        return None if value == NO_INDEX else int(value)

    return {
        (index(body), index(face)): int(track)
        for body, face, track in zip(tracked.body_index, tracked.face_index, tracked.track_id)
    }
