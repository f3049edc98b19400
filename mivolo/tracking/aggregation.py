"""Per-track age/gender aggregation: what a tracked person's label and exports say.

Modes (one per track, chosen by the user):
- DEFAULT (shared spec section 6, the original's rule): the original tracks a person's face and
  body separately and pools both histories, so a frame estimated from face and body adds two
  samples. With >= 10 samples: the winsorized mean of all of them (ages clipped to median +- 6);
  with fewer: the mean of the face samples' mean and the body samples' mean (either side stands
  in for a missing other). Gender: the most frequent label over the samples.
- CONFIDENCE: the single best prediction, scored 0.7 * detection conf + 0.3 * gender conf,
  among those passing both confidence gates. It survives the track being lost for a while;
  until a prediction passes the gates the person is unknown.
- TEMPORAL: the mean age and gender vote over the last `smoothing_window` frames.
- GLOBAL: the mean age and gender vote over the whole track; the final value is written to
  every frame of the track at the end of the run.

The gender vote of DEFAULT, TEMPORAL and GLOBAL counts labels (`GenderRule.COUNT`, the
original's); a tie goes to the label with the higher summed score, where the original's
outcome depended on Python's string hashing. `GenderRule.SCORE` weights each label by its
score instead.

What an estimate says about gender: `gender_score` is the model's probability for the reported
gender (the mean over the samples that voted for it; the chosen prediction's own in CONFIDENCE
mode) and `gender_vote_share` the share of the track's votes that went to it (None in
CONFIDENCE mode, which does not vote).
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Deque, Dict, Iterable, List, Optional

import numpy as np

from mivolo.core.record import NO_GENDER, People, gender_code, gender_name, optional

DEFAULT_MIN_TRACK_LENGTH = 3  # analysed frames a track needs to be reported as a person
WINSORIZE_MIN_SAMPLES = 10
WINSORIZE_HALF_WIDTH = 6.0  # years either side of the median
DETECTION_WEIGHT = 0.7
GENDER_WEIGHT = 0.3


class AggregationMode(Enum):
    DEFAULT = "default"
    CONFIDENCE = "confidence-based"
    TEMPORAL = "temporal-smoothing"
    GLOBAL = "global-smoothing"


class GenderRule(Enum):
    COUNT = "count"  # the most frequent label (the original's)
    SCORE = "score"  # the label with the highest summed score


@dataclass(frozen=True)
class AggregationSettings:
    mode: AggregationMode = AggregationMode.DEFAULT
    min_detection_conf: float = 0.5
    min_gender_conf: float = 0.6
    smoothing_window: int = 10
    gender_rule: GenderRule = GenderRule.COUNT


@dataclass(frozen=True)
class Prediction:
    """One frame's estimate for a tracked person, and which of their boxes it was made for."""

    age: float
    gender: Optional[str]
    gender_score: Optional[float]
    detection_conf: float
    face_estimated: bool = True  # the estimate belongs to the person's face box
    body_estimated: bool = False  # ... and/or to their body box

    @property
    def composite(self) -> float:
        """0.7 * detection conf + 0.3 * gender conf (an age-only model contributes no gender part)."""
        return DETECTION_WEIGHT * self.detection_conf + GENDER_WEIGHT * (self.gender_score or 0.0)

    @property
    def samples(self) -> int:
        """The original's samples for this frame: one per box (face, body) the estimate was written to."""
        return max(1, int(self.face_estimated) + int(self.body_estimated))


@dataclass(frozen=True)
class Estimate:
    """A track's aggregated answer (see the module doc for the two gender figures)."""

    age: Optional[float]
    gender: Optional[str]
    gender_score: Optional[float]
    gender_vote_share: Optional[float] = None


UNKNOWN = Estimate(None, None, None)


def winsorized_mean(ages: np.ndarray) -> float:
    """Mean of the ages clipped to [median - 6, median + 6] (shared spec section 6)."""
    median = float(np.median(ages))
    return float(np.clip(ages, median - WINSORIZE_HALF_WIDTH, median + WINSORIZE_HALF_WIDTH).mean())


@dataclass
class GenderVote:
    """Labels counted with their summed scores; `result` applies a GenderRule."""

    rule: GenderRule = GenderRule.COUNT
    counts: Dict[str, float] = field(default_factory=dict)
    scores: Dict[str, float] = field(default_factory=dict)

    def add(self, gender: Optional[str], score: Optional[float], votes: float = 1) -> None:
        if gender is not None:
            self.counts[gender] = self.counts.get(gender, 0) + votes
            self.scores[gender] = self.scores.get(gender, 0.0) + votes * (score if score is not None else 1.0)

    def result(self) -> tuple:
        """(gender, mean score of its votes, its share of the votes), or (None, None, None)."""
        if not self.counts:
            return None, None, None
        weight = self.counts if self.rule is GenderRule.COUNT else self.scores
        # ties: the higher summed score, then the label's name, so the outcome never depends on hashing
        winner = max(sorted(self.counts), key=lambda g: (weight[g], self.scores[g]))
        total = sum(weight.values())
        share = weight[winner] / total if total > 0 else None
        return winner, self.scores[winner] / self.counts[winner], share


def _vote(predictions: Iterable["Prediction"], rule: GenderRule) -> GenderVote:
    vote = GenderVote(rule)
    for p in predictions:
        vote.add(p.gender, p.gender_score)
    return vote


class Aggregator:
    """Folds a track's predictions into one Estimate; `estimate()` may be asked at any time."""

    def add(self, prediction: Prediction) -> None:
        raise NotImplementedError

    def estimate(self) -> Estimate:
        raise NotImplementedError


class PooledFaceBodyAggregator(Aggregator):
    """DEFAULT mode: the original's face-track and body-track histories, pooled (module doc)."""

    def __init__(self, gender_rule: GenderRule = GenderRule.COUNT):
        self.face_ages = array("d")  # 8 bytes a sample; the median needs them all
        self.body_ages = array("d")
        self.vote = GenderVote(gender_rule)

    def add(self, prediction: Prediction) -> None:
        if prediction.face_estimated or not prediction.body_estimated:
            self.face_ages.append(prediction.age)
        if prediction.body_estimated:
            self.body_ages.append(prediction.age)
        self.vote.add(prediction.gender, prediction.gender_score, votes=prediction.samples)

    def estimate(self) -> Estimate:
        if not self.face_ages and not self.body_ages:
            return UNKNOWN
        if len(self.face_ages) + len(self.body_ages) >= WINSORIZE_MIN_SAMPLES:
            age = winsorized_mean(np.concatenate([np.asarray(self.body_ages), np.asarray(self.face_ages)]))
        else:
            face_mean = float(np.mean(self.face_ages)) if self.face_ages else None
            body_mean = float(np.mean(self.body_ages)) if self.body_ages else None
            face_mean = body_mean if face_mean is None else face_mean
            body_mean = face_mean if body_mean is None else body_mean
            age = (face_mean + body_mean) / 2.0
        return Estimate(age, *self.vote.result())


class BestPredictionAggregator(Aggregator):
    def __init__(self, min_detection_conf: float, min_gender_conf: float):
        self.min_detection_conf = min_detection_conf
        self.min_gender_conf = min_gender_conf
        self.best: Optional[Prediction] = None

    def passes_gates(self, prediction: Prediction) -> bool:
        gender_ok = prediction.gender_score is None or prediction.gender_score >= self.min_gender_conf
        return prediction.detection_conf >= self.min_detection_conf and gender_ok

    def add(self, prediction: Prediction) -> None:
        if self.passes_gates(prediction) and (self.best is None or prediction.composite > self.best.composite):
            self.best = prediction

    def estimate(self) -> Estimate:
        best = self.best
        return UNKNOWN if best is None else Estimate(best.age, best.gender, best.gender_score)


class WindowAggregator(Aggregator):
    """Moving average over the last `window` predictions; `window=None` keeps running totals of
    the whole track instead (global smoothing), so memory stays constant either way."""

    def __init__(self, window: Optional[int], gender_rule: GenderRule = GenderRule.COUNT):
        self.recent: Optional[Deque[Prediction]] = deque(maxlen=window) if window else None
        self.age_sum = 0.0
        self.count = 0
        self.vote = GenderVote(gender_rule)

    def add(self, prediction: Prediction) -> None:
        if self.recent is not None:
            self.recent.append(prediction)
        else:
            self.age_sum += prediction.age
            self.count += 1
            self.vote.add(prediction.gender, prediction.gender_score)

    def estimate(self) -> Estimate:
        if self.recent is not None:
            if not self.recent:
                return UNKNOWN
            age = sum(p.age for p in self.recent) / len(self.recent)
            return Estimate(age, *_vote(self.recent, self.vote.rule).result())
        if not self.count:
            return UNKNOWN
        return Estimate(self.age_sum / self.count, *self.vote.result())


def make_aggregator(settings: AggregationSettings) -> Aggregator:
    if settings.mode is AggregationMode.CONFIDENCE:
        return BestPredictionAggregator(settings.min_detection_conf, settings.min_gender_conf)
    if settings.mode is AggregationMode.TEMPORAL:
        return WindowAggregator(settings.smoothing_window, settings.gender_rule)
    if settings.mode is AggregationMode.GLOBAL:
        return WindowAggregator(None, settings.gender_rule)
    return PooledFaceBodyAggregator(settings.gender_rule)


@dataclass
class AgeSpread:
    """Running standard deviation of a track's raw ages (Welford), without keeping them."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, age: float) -> None:
        self.count += 1
        delta = age - self.mean
        self.mean += delta / self.count
        self.m2 += delta * (age - self.mean)

    @property
    def std(self) -> Optional[float]:
        return math.sqrt(self.m2 / self.count) if self.count else None

    @classmethod
    def combined(cls, spreads) -> "AgeSpread":
        """The spread of all the samples of `spreads` together (Chan's parallel update)."""
        total = cls()
        for spread in spreads:
            if spread.count == 0:
                continue
            count = total.count + spread.count
            delta = spread.mean - total.mean
            total.m2 += spread.m2 + delta * delta * total.count * spread.count / count
            total.mean += delta * spread.count / count
            total.count = count
        return total


class TrackHistory:
    """Everything kept about one track: when it was seen, its aggregation state, its best crop."""

    def __init__(self, track_id: int, settings: AggregationSettings, first_seen_s: float):
        self.track_id = track_id
        self.first_seen_s = first_seen_s
        self.last_seen_s = first_seen_s
        self.frames_seen = 0
        self.aggregator: Optional[Aggregator] = make_aggregator(settings)
        self.spread = AgeSpread()
        self.best_composite = -1.0
        self.best_crop_track = track_id  # whose best_<id> crop is this person's best (itself unless merged)
        self._final: Optional[Estimate] = None

    def observe(self, time_s: float, prediction: Optional[Prediction]) -> bool:
        """Record a frame where the track was seen; True when `prediction` is its best so far."""
        self.last_seen_s = time_s
        self.frames_seen += 1
        if prediction is None or self.aggregator is None:
            return False
        self.aggregator.add(prediction)
        self.spread.add(prediction.age)
        if prediction.composite > self.best_composite:
            self.best_composite = prediction.composite
            return True
        return False

    def estimate(self) -> Estimate:
        return self._final if self.aggregator is None else self.aggregator.estimate()

    def close(self) -> None:
        """The tracker gave this track up: keep its final estimate, free its samples."""
        if self.aggregator is not None:
            self._final = self.aggregator.estimate()
            self.aggregator = None

    @classmethod
    def merged(cls, fragments: List["TrackHistory"]) -> "TrackHistory":
        """One person's history from the fragments `--reid-merge` joined, named by the smallest ID.

        Fragments may have freed their samples, so the estimate combines the fragments' own
        estimates: the age is their mean weighted by each fragment's number of predictions, the
        gender a vote of each fragment's gender with as many votes as it had predictions.
        """
        fragments = sorted(fragments, key=lambda t: t.track_id)
        person = cls(fragments[0].track_id, AggregationSettings(), min(t.first_seen_s for t in fragments))
        person.last_seen_s = max(t.last_seen_s for t in fragments)
        person.frames_seen = sum(t.frames_seen for t in fragments)
        person.spread = AgeSpread.combined(t.spread for t in fragments)
        best = max(fragments, key=lambda t: t.best_composite)
        person.best_composite, person.best_crop_track = best.best_composite, best.best_crop_track
        estimates = [(t.estimate(), t.spread.count) for t in fragments]
        weighed = [(e, n) for e, n in estimates if e.age is not None and n > 0]
        vote = GenderVote(GenderRule.COUNT)
        for estimate, count in weighed:
            vote.add(estimate.gender, estimate.gender_score, votes=count)
        age = sum(e.age * n for e, n in weighed) / sum(n for _, n in weighed) if weighed else None
        person._final = Estimate(age, *vote.result()) if weighed else UNKNOWN
        person.aggregator = None
        return person


class TrackBook:
    """The TrackHistory of every track of a run, by track ID."""

    def __init__(self, settings: AggregationSettings):
        self.settings = settings
        self.tracks: Dict[int, TrackHistory] = {}

    def history(self, track_id: int, time_s: float) -> TrackHistory:
        if track_id not in self.tracks:
            self.tracks[track_id] = TrackHistory(track_id, self.settings, time_s)
        return self.tracks[track_id]

    def update(self, people: People, time_s: float) -> People:
        """Record one analysed frame of tracked people; their rows with each track's answer so far."""
        n = len(people)
        columns = {
            "track_age": np.full(n, np.nan),
            "track_gender": np.full(n, NO_GENDER, np.int8),
            "track_gender_score": np.full(n, np.nan),
            "track_vote_share": np.full(n, np.nan),
            "track_frames": np.zeros(n, np.int64),
            "best_so_far": np.zeros(n, bool),
        }
        for row in range(n):
            history = self.history(int(people.track_id[row]), time_s)
            prediction = None
            if not np.isnan(people.age[row]):
                prediction = Prediction(
                    age=float(people.age[row]),
                    gender=gender_name(people.gender[row]),
                    gender_score=optional(people.gender_score[row]),
                    detection_conf=float(people.confidence[row]),
                    face_estimated=bool(people.face_estimated[row]),
                    body_estimated=bool(people.body_estimated[row]),
                )
            columns["best_so_far"][row] = history.observe(time_s, prediction)
            columns["track_frames"][row] = history.frames_seen
            estimate = history.estimate()
            columns["track_age"][row] = np.nan if estimate.age is None else estimate.age
            columns["track_gender"][row] = gender_code(estimate.gender)
            columns["track_gender_score"][row] = np.nan if estimate.gender_score is None else estimate.gender_score
            columns["track_vote_share"][row] = np.nan if estimate.gender_vote_share is None else estimate.gender_vote_share
        return people.with_columns(**columns)

    def close(self, track_ids) -> None:
        for track_id in track_ids:
            if track_id in self.tracks:
                self.tracks[track_id].close()

    def merge(self, groups) -> None:
        """Replace each group of track IDs (from --reid-merge) by one merged history."""
        for group in groups:
            fragments = [self.tracks.pop(track_id) for track_id in group if track_id in self.tracks]
            if fragments:
                person = TrackHistory.merged(fragments)
                self.tracks[person.track_id] = person

    def reported(self, min_track_length: int) -> List[TrackHistory]:
        """Tracks seen in at least `min_track_length` analysed frames, by ID."""
        return [t for _, t in sorted(self.tracks.items()) if t.frames_seen >= min_track_length]
