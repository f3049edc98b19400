"""Benchmark metrics exactly as the published MiVOLO figures were computed (shared spec, section 7).

The arithmetic mirrors the published evaluation in float32 torch operations (targets are
normalised and de-normalised with the dataset's avg = (max + min) / 2, predictions are clamped
at 0, CS and CE compare with a 1e-6 tolerance), so that boundary decisions such as an error of
exactly 5 years come out the same. Only the running sums are kept in float64.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import torch

from mivolo.evaluation.names import AGE_CLASS_DATASETS

# The published cumulative score / error compare |error| with L + this tolerance.
SCORE_TOLERANCE = 1e-6
CE_THRESHOLD = 20
UNKNOWN = -1
GENDER_LOGITS = 2


@dataclass(frozen=True)
class AgeBins:
    """Age classes of a categorical benchmark: the CSV labels and the first age of each bin."""

    name: str
    labels: Tuple[str, ...]
    starts: Tuple[int, ...]

    def label_index(self, label: str) -> Optional[int]:
        return self.labels.index(label) if label in self.labels else None

    def classify(self, ages: torch.Tensor) -> torch.Tensor:
        """Bin index of predicted ages: searchsorted(starts, round(clamp(age, 0)), right) - 1.

        `torch.round` rounds halves to even (2.5 -> 2), as the published code does.
        """
        starts = torch.tensor(self.starts, dtype=ages.dtype, device=ages.device)
        return torch.searchsorted(starts, torch.round(ages.clamp(min=0)), right=True) - 1


FAIRFACE_BINS = AgeBins(
    "fairface",
    ("0;2", "3;9", "10;19", "20;29", "30;39", "40;49", "50;59", "60;69", "70;120"),
    (0, 3, 10, 20, 30, 40, 50, 60, 70),
)
ADIENCE_BINS = AgeBins(
    "adience",
    ("0;2", "4;6", "8;12", "15;20", "25;32", "38;43", "48;53", "60;100"),
    (0, 4, 7, 14, 24, 36, 46, 57),
)
AGE_BINS_BY_DATASET: Dict[str, AgeBins] = {bins.name: bins for bins in (FAIRFACE_BINS, ADIENCE_BINS)}
assert tuple(AGE_BINS_BY_DATASET) == AGE_CLASS_DATASETS


@dataclass(frozen=True)
class AgeScale:
    """How the evaluation maps network outputs to years: avg is the middle of the range.

    This is not the checkpoint's avg_age: the published evaluation re-derives it from min/max.
    """

    min_age: float
    max_age: float

    @property
    def avg_age(self) -> float:
        return (self.max_age + self.min_age) / 2.0

    @property
    def span(self) -> float:
        return self.max_age - self.min_age

    def to_years(self, normalized: torch.Tensor) -> torch.Tensor:
        return normalized * self.span + self.avg_age

    def normalize(self, years: torch.Tensor) -> torch.Tensor:
        """Training-target form, computed in float64 then stored as float32 (as the published loader)."""
        return ((years.double() - self.avg_age) / self.span).float()


@dataclass
class MetricsSummary:
    """Final figures. Regression: mae, cs_at_l, ce_at_20; class datasets: age_class_accuracy (%)."""

    age_samples: int
    gender_samples: int
    mae: Optional[float] = None
    cs_at_l: Optional[float] = None  # fraction in [0, 1], as the published `csl`
    ce_at_20: Optional[float] = None  # fraction in [0, 1], as the published `max_error`
    age_class_accuracy: Optional[float] = None  # %
    gender_accuracy: Optional[float] = None  # %
    per_age_errors: Dict[int, List[float]] = field(default_factory=dict)
    per_age_mae: Dict[int, float] = field(default_factory=dict)
    per_age_count: Dict[int, int] = field(default_factory=dict)


class MetricsAccumulator:
    """Accumulates age and gender figures batch by batch; labels of -1 are ignored per task."""

    def __init__(
        self,
        scale: AgeScale,
        bins: Optional[AgeBins] = None,
        l_for_cs: float = 5,
        with_gender: bool = True,
        keep_errors: bool = False,
    ):
        self.scale = scale
        self.bins = bins
        self.l_for_cs = l_for_cs
        self.with_gender = with_gender
        self.keep_errors = keep_errors
        self.age_samples = 0
        self.abs_error_sum = 0.0
        self.within_l = 0
        self.beyond_ce = 0
        self.age_class_correct = 0
        self.gender_samples = 0
        self.gender_correct = 0
        self._per_age_errors: Dict[int, List[float]] = defaultdict(list)
        self._per_age_sum: Dict[int, float] = defaultdict(float)
        self._per_age_count: Dict[int, int] = defaultdict(int)

    @property
    def is_regression(self) -> bool:
        return self.bins is None

    def update(self, output: torch.Tensor, age_labels: torch.Tensor, gender_labels: torch.Tensor) -> None:
        """`output`: B x C network output; `age_labels`: years (regression) or bin index; -1 = unknown."""
        output = output.float()
        age_labels = age_labels.to(output.device)
        if self.with_gender:
            self._update_gender(output[:, :GENDER_LOGITS], gender_labels.to(output.device))
            age_output = output[:, GENDER_LOGITS]
        else:
            age_output = output[:, 0]
        known = age_labels != UNKNOWN
        if not bool(known.any()):
            return
        predicted = self.scale.to_years(age_output[known]).clamp(min=0)
        if self.is_regression:
            self._update_regression(predicted, age_labels[known])
        else:
            self.age_samples += int(known.sum())
            self.age_class_correct += int((self.bins.classify(predicted) == age_labels[known]).sum())

    def _update_regression(self, predicted: torch.Tensor, true_years: torch.Tensor) -> None:
        # the target travels normalised in float32 and is de-normalised like the prediction
        target = self.scale.to_years(self.scale.normalize(true_years).to(predicted.device))
        errors = (predicted - target).abs()
        self.age_samples += errors.numel()
        self.abs_error_sum += float(errors.double().sum())
        self.within_l += int((errors <= self.l_for_cs + SCORE_TOLERANCE).sum())
        self.beyond_ce += int((errors >= CE_THRESHOLD + SCORE_TOLERANCE).sum())
        for age, error in zip(true_years.tolist(), errors.tolist()):
            age = int(age)
            self._per_age_sum[age] += error
            self._per_age_count[age] += 1
            if self.keep_errors:
                self._per_age_errors[age].append(error)

    def _update_gender(self, logits: torch.Tensor, labels: torch.Tensor) -> None:
        known = labels != UNKNOWN
        if not bool(known.any()):
            return
        predicted = logits[known].topk(1, dim=1).indices[:, 0]
        self.gender_samples += int(known.sum())
        self.gender_correct += int((predicted == labels[known].long()).sum())

    @property
    def running_mae(self) -> Optional[float]:
        return self.abs_error_sum / self.age_samples if self.age_samples and self.is_regression else None

    @property
    def running_age_accuracy(self) -> Optional[float]:
        if self.is_regression or not self.age_samples:
            return None
        return 100.0 * self.age_class_correct / self.age_samples

    @property
    def running_gender_accuracy(self) -> Optional[float]:
        return 100.0 * self.gender_correct / self.gender_samples if self.gender_samples else None

    def summary(self) -> MetricsSummary:
        result = MetricsSummary(
            age_samples=self.age_samples,
            gender_samples=self.gender_samples,
            gender_accuracy=self.running_gender_accuracy,
        )
        if not self.age_samples:
            return result
        if self.is_regression:
            result.mae = self.abs_error_sum / self.age_samples
            result.cs_at_l = self.within_l / self.age_samples
            result.ce_at_20 = self.beyond_ce / self.age_samples
            ages = sorted(self._per_age_count)
            result.per_age_count = {age: self._per_age_count[age] for age in ages}
            result.per_age_mae = {age: self._per_age_sum[age] / self._per_age_count[age] for age in ages}
            result.per_age_errors = {age: list(self._per_age_errors[age]) for age in sorted(self._per_age_errors)}
        else:
            result.age_class_accuracy = self.running_age_accuracy
        return result


def bins_for_dataset(name: str) -> Optional[AgeBins]:
    """The age classes of a categorical benchmark, None for a regression one."""
    return AGE_BINS_BY_DATASET.get(name)
