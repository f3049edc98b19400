"""The outputs written from a run's frame log: per-frame JSON, MOT file, summary; checked against
hand-written records."""

import json
from pathlib import Path

import pytest

from mivolo.core.record import FrameRecord, People
from mivolo.jobs.frame_log import FrameLog, reported_frames
from mivolo.sinks.base import VIDEO_RUN, RunInfo, RunResult, RunStats
from mivolo.sinks.crops import CropNames
from mivolo.sinks.frames_json import FramesJson
from mivolo.sinks.mot import MotFile
from mivolo.sinks.values import age_bucket
from mivolo.tracking.aggregation import Estimate

BOX = (10.0, 20.0, 50.0, 120.0)


@pytest.mark.parametrize(
    "age, bucket",
    [
        (0.0, "age_under_13"),
        (12.4, "age_under_13"),
        (12.6, "age_teen"),
        (19.4, "age_teen"),
        (29.0, "age_twenty"),
        (44.0, "age_forty"),
        (59.4, "age_fifty"),
        (65.0, "age_sixty"),
        (69.6, "age_seventy"),
        (101.0, "age_seventy"),
        (None, None),
    ],
)
def test_age_buckets_cover_every_age_with_correct_names(age, bucket):
    assert age_bucket(age) == bucket


def tracked(*people):
    """People (track ID, age, gender code) at BOX, as the aggregator leaves them."""
    n = len(people)
    return People.create(
        n,
        body_xyxy=[BOX] * n,
        track_xyxy=[BOX] * n,
        confidence=[0.875] * n,
        track_id=[p[0] for p in people],
        track_age=[p[1] for p in people],
        track_gender=[p[2] for p in people],
        track_gender_score=[0.8] * n,
        track_vote_share=[0.75] * n,
        track_frames=[1] * n,
    )


def write_log(folder: Path) -> FrameLog:
    log = FrameLog(folder, "walk")
    log.append(FrameRecord(0, 0.0, None, tracked((1, 34.4, 0), (2, 8.0, 1))))
    log.append(FrameRecord(3, 0.3, None, tracked((1, 36.6, 0), (2, 9.0, 1), (5, 70.0, 1))))
    return log


def result_for(log: FrameLog, final, use_final=False) -> RunResult:
    info = RunInfo(VIDEO_RUN, log.path.parent, "walk", source={}, settings={}, frame_size=(320, 240))
    return RunResult(info, RunStats(), frames=lambda: reported_frames(log, final, use_final))


def test_frame_json_records_counts_and_relative_crops(tmp_path):
    log = write_log(tmp_path)
    result = result_for(log, {1: None, 2: None})  # track 5 is too short to be reported
    json_path, mot_path = tmp_path / "out" / "frames.json", tmp_path / "mot.txt"
    FramesJson(json_path, CropNames(tmp_path / "crops")).close(result)
    MotFile(mot_path).close(result)
    records = json.loads(json_path.read_text())
    assert len(records) == 2
    first, second = records
    assert first["version"] == 2 and first["time"] == "0.0 sec" and second["time"] == "0.3 sec"
    assert (first["total_people"], first["man"], first["woman"]) == (2, 1, 1)
    assert (first["age_thirty"], first["age_under_13"], first["age_seventy"]) == (1, 1, 0)
    assert second["age_thirty"] == 1 and second["people_data"][0]["age"] == 37
    assert first["people_data"][0] == {
        "id": 1,
        "gender": "man",
        "age": 34,
        "gender_score": 0.8,
        "gender_vote_share": 0.75,
        "cropped_img": "../crops/best_1.jpg",
        "location": [30, 70],
        "box": [10.0, 20.0, 50.0, 120.0],
    }
    assert "age_fourty" not in first and "age_sisxty" not in first and "age_forty" in first and "age_sixty" in first
    assert mot_path.read_text().splitlines() == [
        "1,1,10.00,20.00,40.00,100.00,0.8750,-1,-1,-1",
        "1,2,10.00,20.00,40.00,100.00,0.8750,-1,-1,-1",
        "4,1,10.00,20.00,40.00,100.00,0.8750,-1,-1,-1",
        "4,2,10.00,20.00,40.00,100.00,0.8750,-1,-1,-1",
    ]
    log.discard()
    assert not log.path.exists()


def test_global_smoothing_writes_the_final_estimate_to_every_frame(tmp_path):
    log = write_log(tmp_path)
    final = {1: Estimate(35.5, "male", 0.9, 1.0), 2: Estimate(8.5, "female", 0.7, 0.6)}
    json_path = tmp_path / "frames.json"
    FramesJson(json_path, None).close(result_for(log, final, use_final=True))
    records = json.loads(json_path.read_text())
    assert [[person["age"] for person in r["people_data"]] for r in records] == [[36, 8], [36, 8]]
    assert all(r["people_data"][1]["gender_score"] == 0.7 for r in records)
    assert all(r["people_data"][1]["gender_vote_share"] == 0.6 for r in records)
    assert all(person["cropped_img"] is None for r in records for person in r["people_data"])


def test_the_frame_log_is_a_new_file_each_run_and_never_follows_a_planted_link(tmp_path):
    target = tmp_path / "victim.txt"
    target.write_text("keep me")
    (tmp_path / ".walk.frames.jsonl").symlink_to(target)  # the name an earlier version always used
    first, second = FrameLog(tmp_path, "walk"), FrameLog(tmp_path, "walk")
    first.append(FrameRecord(0, 0.0, None, tracked((1, 30.0, 0))))
    assert first.path != second.path and not first.path.is_symlink()
    assert target.read_text() == "keep me"
    assert [int(frame.people.track_id[0]) for frame in first.frames()] == [1]


def test_people_csv_is_one_row_per_reported_person(tmp_path):
    """The sink added as one file plus its flag: rows hold the summary's per-person values."""
    import csv

    from mivolo.sinks.people_csv import PeopleCsv
    from mivolo.sinks.registry import build_sinks, output_options
    from mivolo.sinks.base import OutputPlan
    from mivolo.tracking.aggregation import AggregationSettings, Prediction, TrackHistory

    tracks = []
    for track_id, ages in ((3, (30.0, 34.0)), (7, (61.0,))):
        history = TrackHistory(track_id, AggregationSettings(), first_seen_s=0.5)
        for frame, age in enumerate(ages):
            history.observe(0.5 + frame / 10, Prediction(age, "female", 0.8, 0.9))
        tracks.append(history)
    result = RunResult(RunInfo(VIDEO_RUN, tmp_path, "walk", source={}, settings={}), RunStats(), tracks=tracks)
    plan = OutputPlan(VIDEO_RUN, tmp_path, "walk")
    (sink,) = [s for s in build_sinks(output_options(people_csv=True, save_crops=True), plan) if isinstance(s, PeopleCsv)]
    assert sink.close(result) == {"people_csv": tmp_path / "walk_people.csv"}
    rows = list(csv.DictReader((tmp_path / "walk_people.csv").open()))
    assert [(r["id"], r["age"], r["age_spread"], r["frames_seen"], r["last_seen_s"]) for r in rows] == [
        ("3", "32.0", "2.0", "2", "0.6"),
        ("7", "61.0", "0.0", "1", "0.5"),
    ]
    assert rows[0]["gender"] == "woman" and rows[0]["gender_score"] == "0.8" and rows[0]["gender_vote_share"] == "1.0"
    assert rows[1]["best_crop"] == "crops/walk/best_7.jpg"
    assert not [s for s in build_sinks(output_options(), plan) if isinstance(s, PeopleCsv)]  # off by default
