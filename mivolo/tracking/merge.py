"""`--reid-merge`: after the video, join track fragments of one person by their mean appearance.

A person who is out of view for longer than the tracker's buffer comes back with a new track ID.
Each track's embeddings are averaged; two groups of tracks are joined when the cosine similarity
of their mean embeddings reaches the threshold and they never appear in the same frame (one
person cannot be two tracks at once). The most similar pair is joined first, then the group's
mean is recomputed (weighted by observations), until no pair qualifies. Each person is named by
the smallest track ID of its group.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Sequence, Tuple

import numpy as np

from mivolo.core.errors import MiVOLOError

DEFAULT_MERGE_THRESHOLD = 0.75  # cosine similarity of mean embeddings


@dataclass(frozen=True)
class TrackAppearance:
    """What the merge needs to know about one track."""

    track_id: int
    first_frame: int
    last_frame: int
    mean_embedding: np.ndarray  # unit length
    observations: int


@dataclass(frozen=True)
class MergeResult:
    person_of_track: Dict[int, int]  # track ID -> person ID (smallest track ID of its group)
    groups: Tuple[Tuple[int, ...], ...]  # track IDs per person, each sorted, ordered by person ID

    @property
    def people(self) -> int:
        return len(self.groups)


@dataclass
class TrackAppearanceAccumulator:
    """Collects the per-frame embeddings of every track during the video, in O(tracks x dim) memory."""

    _sums: Dict[int, np.ndarray] = field(default_factory=dict)
    _counts: Dict[int, int] = field(default_factory=dict)
    _spans: Dict[int, Tuple[int, int]] = field(default_factory=dict)

    def add(self, track_id: int, frame_index: int, embedding: np.ndarray) -> None:
        embedding = np.asarray(embedding, dtype=np.float64).reshape(-1)
        if track_id in self._sums:
            self._sums[track_id] += embedding
            first, last = self._spans[track_id]
            self._spans[track_id] = (min(first, frame_index), max(last, frame_index))
        else:
            self._sums[track_id] = embedding.copy()
            self._spans[track_id] = (frame_index, frame_index)
        self._counts[track_id] = self._counts.get(track_id, 0) + 1

    def summaries(self) -> List[TrackAppearance]:
        return [
            TrackAppearance(track_id, *self._spans[track_id], _unit(self._sums[track_id]), self._counts[track_id])
            for track_id in sorted(self._sums)
        ]


def _unit(vector: np.ndarray) -> np.ndarray:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


@dataclass
class _Group:
    tracks: List[TrackAppearance]

    @property
    def mean(self) -> np.ndarray:
        return _unit(sum(t.mean_embedding * t.observations for t in self.tracks))

    def overlaps(self, other: _Group) -> bool:
        return any(
            a.first_frame <= b.last_frame and b.first_frame <= a.last_frame for a in self.tracks for b in other.tracks
        )


def merge_fragments(tracks: Sequence[TrackAppearance], threshold: float = DEFAULT_MERGE_THRESHOLD) -> MergeResult:
    """Group the tracks that show the same person (see the module doc). Pure: no state, no I/O."""
    if not -1.0 <= threshold <= 1.0:
        raise MiVOLOError(f"--reid-merge threshold must be a cosine similarity in [-1, 1], got {threshold}")
    if len({t.track_id for t in tracks}) != len(tracks):
        raise MiVOLOError("merge_fragments: each track ID must appear once")
    groups = [_Group([track]) for track in tracks]
    while True:
        best: Tuple[float, int, int] = (-np.inf, -1, -1)
        means = [group.mean for group in groups]
        for i in range(len(groups)):
            for j in range(i + 1, len(groups)):
                similarity = float(means[i] @ means[j])
                if similarity >= threshold and similarity > best[0] and not groups[i].overlaps(groups[j]):
                    best = (similarity, i, j)
        if best[1] < 0:
            break
        _, i, j = best
        groups[i] = _Group(groups[i].tracks + groups[j].tracks)
        del groups[j]
    members = sorted(tuple(sorted(t.track_id for t in group.tracks)) for group in groups)
    person_of_track = {track_id: group[0] for group in members for track_id in group}
    return MergeResult(person_of_track=person_of_track, groups=tuple(members))
