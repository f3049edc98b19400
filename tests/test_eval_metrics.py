"""Benchmark metrics against hand-computed values (shared spec, section 7)."""

import pytest
import torch

from mivolo.evaluation.metrics import ADIENCE_BINS, FAIRFACE_BINS, AgeScale, MetricsAccumulator

# min 0, max 128: avg 64, span 128, so every output below is an exact binary fraction
SCALE = AgeScale(min_age=0.0, max_age=128.0)


def outputs_for(years, gender_logits=None):
    """Network outputs (gender logits, normalised age) that de-normalise to `years` exactly."""
    ages = torch.tensor([(y - SCALE.avg_age) / SCALE.span for y in years], dtype=torch.float32)
    if gender_logits is None:
        return ages[:, None]
    return torch.cat([torch.tensor(gender_logits, dtype=torch.float32), ages[:, None]], dim=1)


def classify(bins, years):
    return bins.classify(torch.tensor(years, dtype=torch.float32)).tolist()


def test_fairface_bins_at_every_boundary():
    # starts 0 3 10 20 30 40 50 60 70: the last age of a bin and the first of the next
    years = [0, 2, 3, 9, 10, 19, 20, 29, 30, 39, 40, 49, 50, 59, 60, 69, 70, 120]
    assert classify(FAIRFACE_BINS, years) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8]


def test_adience_bins_at_every_boundary():
    # starts 0 4 7 14 24 36 46 57 (the published gaps: 3 goes to "0;2", 13 to "8;12", ...)
    years = [0, 3, 4, 6, 7, 13, 14, 23, 24, 35, 36, 45, 46, 56, 57, 100]
    assert classify(ADIENCE_BINS, years) == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7]


def test_bins_round_half_to_even_and_clamp_negative_ages():
    # 2.5 -> 2 ("0;2"), 2.51 -> 3, 9.5 -> 10 ("10;19"), 3.5 -> 4; negatives clamp to 0; far ages stay in the last bin
    assert classify(FAIRFACE_BINS, [2.5, 2.51, 9.5, 3.5, -7.0, 300.0]) == [0, 1, 2, 1, 0, 8]
    assert classify(ADIENCE_BINS, [3.5, 6.5, 13.5, -0.4]) == [1, 1, 3, 0]


def test_bin_labels_map_to_indices():
    assert [FAIRFACE_BINS.label_index(label) for label in ("0;2", "30;39", "70;120")] == [0, 4, 8]
    assert [ADIENCE_BINS.label_index(label) for label in ("0;2", "25;32", "60;100")] == [0, 4, 7]
    assert FAIRFACE_BINS.label_index("25;32") is None


def test_evaluation_scale_uses_the_middle_of_the_range():
    assert AgeScale(min_age=1.0, max_age=95.0).avg_age == 48.0
    assert AgeScale(min_age=0.0, max_age=122.0).avg_age == 61.0


def test_regression_metrics_by_hand():
    metrics = MetricsAccumulator(SCALE, bins=None, l_for_cs=5, with_gender=True, keep_errors=True)
    predicted = [10.0, 30.0, 32.5, 70.0, -5.0, 60.0, 50.0]
    true_age = [15, 25, 32, 40, 3, 40, -1]
    # errors 5, 5, 0.5, 30, 3 (prediction clamped to 0), 20; the -1 age is ignored
    logits = [[1.0, 0.0], [0.0, 1.0], [0.0, 1.0], [1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    genders = [0, 0, 1, -1, 0, 0, 1]  # predicted M F F M M F F -> right, wrong, right, -, right, wrong, right
    metrics.update(outputs_for(predicted, logits), torch.tensor(true_age), torch.tensor(genders))
    summary = metrics.summary()
    assert summary.age_samples == 6
    assert summary.mae == pytest.approx(63.5 / 6)
    assert summary.cs_at_l == pytest.approx(4 / 6)  # |error| <= 5 includes the two errors of exactly 5
    # |error| >= 20 + 1e-6 as published: exactly 20 is not counted, 30 is
    assert summary.ce_at_20 == pytest.approx(1 / 6)
    assert summary.gender_samples == 6
    assert summary.gender_accuracy == pytest.approx(100 * 4 / 6)
    assert summary.per_age_count == {3: 1, 15: 1, 25: 1, 32: 1, 40: 2}
    assert summary.per_age_mae == pytest.approx({3: 3.0, 15: 5.0, 25: 5.0, 32: 0.5, 40: 25.0})
    assert summary.per_age_errors[40] == pytest.approx([30.0, 20.0])


def test_batches_add_up_to_the_whole():
    predicted, true_age = [10.0, 30.0, 32.5, 70.0], [15, 25, 32, 40]
    whole = MetricsAccumulator(SCALE, l_for_cs=3, with_gender=False)
    whole.update(outputs_for(predicted), torch.tensor(true_age), torch.tensor([-1] * 4))
    split = MetricsAccumulator(SCALE, l_for_cs=3, with_gender=False)
    for start in (0, 1, 3):
        stop = {0: 1, 1: 3, 3: 4}[start]
        split.update(
            outputs_for(predicted[start:stop]), torch.tensor(true_age[start:stop]), torch.tensor([-1] * (stop - start))
        )
    assert split.summary().mae == pytest.approx(whole.summary().mae) == pytest.approx((5 + 5 + 0.5 + 30) / 4)
    assert split.summary().cs_at_l == whole.summary().cs_at_l == 0.25  # only the 0.5 error is within 3
    assert whole.summary().gender_accuracy is None  # age-only model: no gender figure


def test_a_batch_without_age_labels_leaves_the_age_figures_alone():
    metrics = MetricsAccumulator(SCALE, with_gender=True)
    metrics.update(outputs_for([20.0], [[0.0, 1.0]]), torch.tensor([-1]), torch.tensor([1]))
    metrics.update(outputs_for([20.0], [[0.0, 1.0]]), torch.tensor([26]), torch.tensor([-1]))
    summary = metrics.summary()
    assert (summary.age_samples, summary.mae, summary.gender_samples, summary.gender_accuracy) == (1, 6.0, 1, 100.0)


def test_age_class_accuracy_by_hand():
    metrics = MetricsAccumulator(SCALE, bins=FAIRFACE_BINS, with_gender=False)
    # 32.5 -> 32 -> "30;39" (4); 2.5 -> 2 -> "0;2" (0); 69.6 -> 70 -> "70;120" (8); 45 -> "40;49" (5)
    predicted = [32.5, 2.5, 69.6, 45.0, 12.0]
    labels = [4, 1, 8, 4, -1]
    metrics.update(outputs_for(predicted), torch.tensor(labels), torch.tensor([-1] * 5))
    summary = metrics.summary()
    assert summary.age_samples == 4
    assert summary.age_class_accuracy == pytest.approx(50.0)
    assert summary.mae is None and summary.cs_at_l is None
