"""Per-track aggregation modes, checked against hand-computed values."""


import numpy as np
import pytest

from mivolo.tracking.aggregation import (
    UNKNOWN,
    AggregationMode,
    AggregationSettings,
    GenderRule,
    Prediction,
    TrackBook,
    TrackHistory,
    make_aggregator,
    winsorized_mean,
)
from mivolo.tracking.tracker import create_tracker, load_tracker_config
from scripted_people import bodies


def p(age, gender="male", score=0.9, det=0.9, face=True, body=False):
    return Prediction(
        age=age, gender=gender, gender_score=score, detection_conf=det, face_estimated=face, body_estimated=body
    )


def aggregate(mode, predictions, **settings):
    aggregator = make_aggregator(AggregationSettings(mode=mode, **settings))
    for prediction in predictions:
        aggregator.add(prediction)
    return aggregator.estimate()


# ---- default: the original's pooled face and body histories, majority gender --------------------


def test_default_under_ten_samples_is_the_plain_mean():
    assert aggregate(AggregationMode.DEFAULT, [p(20), p(30), p(40)]).age == pytest.approx(30.0)


def test_default_from_ten_samples_clips_to_median_plus_minus_six():
    # median of 20..28 and 60 is 24.5, so 60 counts as 30.5: (216 + 30.5) / 10
    ages = [20, 21, 22, 23, 24, 25, 26, 27, 28, 60]
    assert aggregate(AggregationMode.DEFAULT, [p(a) for a in ages]).age == pytest.approx(24.65)
    assert winsorized_mean(np.array([10.0] * 5 + [40.0] * 5)) == pytest.approx(25.0)  # median 25: 19 and 31


def test_default_counts_a_face_and_body_frame_as_two_samples():
    """The original's face track and body track both hold the frame: 5 face+body frames are 10
    samples, so the winsorized mean applies: median 30, 70 clipped to 36, (8 x 30 + 2 x 36) / 10."""
    frames = [p(30, face=True, body=True)] * 4 + [p(70, face=True, body=True)]
    assert aggregate(AggregationMode.DEFAULT, frames).age == pytest.approx(31.2)
    assert aggregate(AggregationMode.DEFAULT, [p(30)] * 4 + [p(70)]).age == pytest.approx(38.0)  # 5 samples: mean


def test_default_under_ten_samples_averages_the_face_mean_and_the_body_mean():
    # face samples 30, 30, 30, 40, 40 (mean 34); body samples 30, 30, 30 (mean 30): (34 + 30) / 2
    frames = [p(30, face=True, body=True)] * 3 + [p(40, face=True, body=False)] * 2
    assert aggregate(AggregationMode.DEFAULT, frames).age == pytest.approx(32.0)
    # a body-only track: its own mean stands in for the missing face mean
    assert aggregate(AggregationMode.DEFAULT, [p(20, face=False, body=True), p(30, face=False, body=True)]).age == 25.0


def test_default_gender_is_the_most_frequent_label():
    predictions = [p(30, "male", 0.99), p(30, "male", 0.99)] + [p(30, "female", 0.51)] * 3
    estimate = aggregate(AggregationMode.DEFAULT, predictions)
    assert estimate.gender == "female"  # 3 votes against 2, though the male scores sum higher
    assert estimate.gender_score == pytest.approx(0.51) and estimate.gender_vote_share == pytest.approx(3 / 5)
    weighted = aggregate(AggregationMode.DEFAULT, predictions, gender_rule=GenderRule.SCORE)
    assert weighted.gender == "male"  # 1.98 against 1.53
    assert weighted.gender_score == pytest.approx(0.99) and weighted.gender_vote_share == pytest.approx(1.98 / 3.51)


def test_default_gender_votes_once_per_sample_and_ties_go_to_the_higher_summed_score():
    # one face+body frame (2 votes male, 0.7 each) against two face-only frames (2 votes female, 0.8)
    predictions = [p(30, "male", 0.7, face=True, body=True), p(30, "female", 0.8), p(30, "female", 0.8)]
    for order in (predictions, predictions[::-1]):
        estimate = aggregate(AggregationMode.DEFAULT, order)
        assert (estimate.gender, estimate.gender_vote_share) == ("female", 0.5)


def test_age_only_predictions_have_no_gender():
    estimate = aggregate(AggregationMode.DEFAULT, [p(30, None, None), p(32, None, None)])
    assert (estimate.age, estimate.gender, estimate.gender_score, estimate.gender_vote_share) == (31.0, None, None, None)


# ---- confidence-based --------------------------------------------------------------------------


def test_confidence_based_keeps_the_best_gated_prediction():
    predictions = [
        p(30, "male", score=0.9, det=0.6),  # composite 0.42 + 0.27 = 0.69
        p(40, "female", score=0.55, det=0.95),  # gender conf below 0.6: ignored
        p(35, "male", score=0.7, det=0.8),  # composite 0.56 + 0.21 = 0.77: the best
        p(50, "female", score=0.99, det=0.45),  # detection conf below 0.5: ignored
        p(33, "male", score=0.8, det=0.7),  # composite 0.49 + 0.24 = 0.73
    ]
    estimate = aggregate(AggregationMode.CONFIDENCE, predictions)
    assert (estimate.age, estimate.gender, estimate.gender_score, estimate.gender_vote_share) == (35, "male", 0.7, None)
    assert predictions[2].composite == pytest.approx(0.77)


def test_confidence_gates_are_the_users():
    predictions = [p(30, score=0.9, det=0.6), p(40, "female", score=0.55, det=0.95)]
    estimate = aggregate(AggregationMode.CONFIDENCE, predictions, min_gender_conf=0.5)
    assert estimate.age == 40  # 0.665 + 0.165 = 0.83 beats 0.69 once 0.55 passes the gate


def test_confidence_based_is_unknown_until_a_prediction_passes_the_gates():
    aggregator = make_aggregator(AggregationSettings(mode=AggregationMode.CONFIDENCE, min_gender_conf=0.999))
    for prediction in (p(30, score=0.9), p(31, score=0.99)):
        aggregator.add(prediction)
        assert aggregator.estimate() == UNKNOWN
    aggregator.add(p(32, score=0.9995))
    assert aggregator.estimate().age == 32


def test_confidence_best_survives_the_track_being_lost():
    """The earlier fork forgot the best after one missed frame; here the track keeps it."""
    tracker = create_tracker(load_tracker_config("bytetrack.yaml"))
    book = TrackBook(AggregationSettings(mode=AggregationMode.CONFIDENCE))
    frames = [(38.0, 0.95)] * 3 + [None] * 5 + [(60.0, 0.55)] * 3  # (age, detection conf) or absent
    shown = []
    for index, frame in enumerate(frames):
        people = bodies() if frame is None else bodies([50, 40, 90, 200], confidence=frame[1], age=[frame[0]], gender=[0], gender_score=[0.9])
        tracked = book.update(tracker.update(people, None), index / 10)
        shown += [(int(track_id), float(age)) for track_id, age in zip(tracked.track_id, tracked.track_age)]
    assert shown == [(1, 38.0)] * 6


# ---- temporal and global smoothing ----------------------------------------------------------------


def test_temporal_smoothing_averages_the_last_window():
    predictions = [p(10), p(20, "female", 0.8), p(30, "female", 0.7), p(40, "male", 0.9)]
    estimate = aggregate(AggregationMode.TEMPORAL, predictions, smoothing_window=3)
    assert estimate.age == pytest.approx(30.0)  # (20 + 30 + 40) / 3; 10 has left the window
    assert estimate.gender == "female" and estimate.gender_vote_share == pytest.approx(2 / 3)


def test_global_smoothing_averages_the_whole_track():
    estimate = aggregate(AggregationMode.GLOBAL, [p(10), p(20), p(30), p(60)], smoothing_window=2)
    assert estimate.age == pytest.approx(30.0)


def test_track_history_counts_frames_spread_and_best_composite():
    history = TrackHistory(7, AggregationSettings(), first_seen_s=1.5)
    assert history.observe(1.5, p(10, det=0.5)) is True
    assert history.observe(1.6, None) is False  # seen, no estimate (unusable crops)
    assert history.observe(1.7, p(20, det=0.4)) is False
    assert history.observe(1.8, p(30, det=0.9)) is True
    assert (history.frames_seen, history.first_seen_s, history.last_seen_s) == (4, 1.5, 1.8)
    assert history.spread.std == pytest.approx(np.std([10, 20, 30]))
    history.close()
    assert history.aggregator is None and history.estimate().age == pytest.approx(20.0)


def test_short_tracks_are_not_reported():
    book = TrackBook(AggregationSettings())
    for track_id, frames in ((1, 5), (2, 2), (3, 3)):
        for i in range(frames):
            book.history(track_id, i).observe(i, p(30))
    assert [t.track_id for t in book.reported(3)] == [1, 3]
