"""Per-track age/gender aggregation: what a tracked person's label and exports say.

Modes (one per track, chosen by the user):
- DEFAULT (shared spec section 6): winsorized mean of all ages once there are >= 10 samples
  (ages clipped to median +- 6), the plain mean before; gender by a vote weighted by score.
- CONFIDENCE: the single best prediction, scored 0.7 * detection conf + 0.3 * gender conf,
  among those passing both confidence gates. It survives the track being lost for a while;
  until a prediction passes the gates, the latest one is shown.
- TEMPORAL: the mean age and score-weighted gender vote over the last `smoothing_window` samples.
- GLOBAL: the mean age and score-weighted gender vote over the whole track; the final value is
  written to every frame of the track at the end of the run.
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from dataclasses import dataclass, field
from enum import Enum
from typing import Deque, Dict, List, Optional

import numpy as np

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


@dataclass(frozen=True)
class AggregationSettings:
    mode: AggregationMode = AggregationMode.DEFAULT
    min_detection_conf: float = 0.5
    min_gender_conf: float = 0.6
    smoothing_window: int = 10


@dataclass(frozen=True)
class Prediction:
    """One frame's estimate for a tracked person."""

    age: float
    gender: Optional[str]
    gender_score: Optional[float]
    detection_conf: float

    @property
    def composite(self) -> float:
        """0.7 * detection conf + 0.3 * gender conf (an age-only model contributes no gender part)."""
        return DETECTION_WEIGHT * self.detection_conf + GENDER_WEIGHT * (self.gender_score or 0.0)


@dataclass(frozen=True)
class Estimate:
    """A track's aggregated answer."""

    age: Optional[float]
    gender: Optional[str]
    gender_confidence: Optional[float]


UNKNOWN = Estimate(None, None, None)


def winsorized_mean(ages: np.ndarray) -> float:
    """Mean of the ages clipped to [median - 6, median + 6] (shared spec section 6)."""
    median = float(np.median(ages))
    return float(np.clip(ages, median - WINSORIZE_HALF_WIDTH, median + WINSORIZE_HALF_WIDTH).mean())


@dataclass
class GenderVote:
    """Score-weighted vote; confidence = the winner's share of the total weight."""

    weights: Dict[str, float] = field(default_factory=dict)

    def add(self, gender: Optional[str], score: Optional[float]) -> None:
        if gender is not None:
            self.weights[gender] = self.weights.get(gender, 0.0) + (score if score is not None else 1.0)

    def result(self):
        total = sum(self.weights.values())
        if total <= 0:
            return None, None
        winner = max(sorted(self.weights), key=lambda g: self.weights[g])
        return winner, self.weights[winner] / total


def _vote(predictions) -> GenderVote:
    vote = GenderVote()
    for p in predictions:
        vote.add(p.gender, p.gender_score)
    return vote


class Aggregator:
    """Folds a track's predictions into one Estimate; `estimate()` may be asked at any time."""

    def add(self, prediction: Prediction) -> None:
        raise NotImplementedError

    def estimate(self) -> Estimate:
        raise NotImplementedError


class WinsorizedAggregator(Aggregator):
    def __init__(self):
        self.ages = array("d")  # 8 bytes a sample; the median needs them all
        self.vote = GenderVote()

    def add(self, prediction: Prediction) -> None:
        self.ages.append(prediction.age)
        self.vote.add(prediction.gender, prediction.gender_score)

    def estimate(self) -> Estimate:
        if not self.ages:
            return UNKNOWN
        ages = np.asarray(self.ages, dtype=np.float64)
        age = winsorized_mean(ages) if len(ages) >= WINSORIZE_MIN_SAMPLES else float(ages.mean())
        return Estimate(age, *self.vote.result())


class BestPredictionAggregator(Aggregator):
    def __init__(self, min_detection_conf: float, min_gender_conf: float):
        self.min_detection_conf = min_detection_conf
        self.min_gender_conf = min_gender_conf
        self.best: Optional[Prediction] = None
        self.latest: Optional[Prediction] = None

    def passes_gates(self, prediction: Prediction) -> bool:
        gender_ok = prediction.gender_score is None or prediction.gender_score >= self.min_gender_conf
        return prediction.detection_conf >= self.min_detection_conf and gender_ok

    def add(self, prediction: Prediction) -> None:
        self.latest = prediction
        if self.passes_gates(prediction) and (self.best is None or prediction.composite > self.best.composite):
            self.best = prediction

    def estimate(self) -> Estimate:
        chosen = self.best or self.latest
        return UNKNOWN if chosen is None else Estimate(chosen.age, chosen.gender, chosen.gender_score)


class WindowAggregator(Aggregator):
    """Moving average over the last `window` predictions; `window=None` keeps running totals of
    the whole track instead (global smoothing), so memory stays constant either way."""

    def __init__(self, window: Optional[int]):
        self.recent: Optional[Deque[Prediction]] = deque(maxlen=window) if window else None
        self.age_sum = 0.0
        self.count = 0
        self.vote = GenderVote()

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
            return Estimate(age, *_vote(self.recent).result())
        if not self.count:
            return UNKNOWN
        return Estimate(self.age_sum / self.count, *self.vote.result())


def make_aggregator(settings: AggregationSettings) -> Aggregator:
    if settings.mode is AggregationMode.CONFIDENCE:
        return BestPredictionAggregator(settings.min_detection_conf, settings.min_gender_conf)
    if settings.mode is AggregationMode.TEMPORAL:
        return WindowAggregator(settings.smoothing_window)
    if settings.mode is AggregationMode.GLOBAL:
        return WindowAggregator(None)
    return WinsorizedAggregator()


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
        self.best_crop: Optional[str] = None
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
        gender a vote of each fragment's gender weighted by confidence x predictions.
        """
        fragments = sorted(fragments, key=lambda t: t.track_id)
        person = cls(fragments[0].track_id, AggregationSettings(), min(t.first_seen_s for t in fragments))
        person.last_seen_s = max(t.last_seen_s for t in fragments)
        person.frames_seen = sum(t.frames_seen for t in fragments)
        person.spread = AgeSpread.combined(t.spread for t in fragments)
        best = max(fragments, key=lambda t: t.best_composite)
        person.best_composite, person.best_crop = best.best_composite, best.best_crop
        estimates = [(t.estimate(), t.spread.count) for t in fragments]
        weighed = [(e, n) for e, n in estimates if e.age is not None and n > 0]
        vote = GenderVote()
        for estimate, count in weighed:
            vote.add(estimate.gender, (estimate.gender_confidence or 1.0) * count)
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
