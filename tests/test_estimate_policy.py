"""Estimate policies: which tracked people MiVOLO estimates in each frame.

A detector double puts two people with faces (and a third, untrackable, low-confidence body) in
every frame of a flat grey video; a real random-weight MiVOLO estimates them, BoT-SORT tracks
them. The rows MiVOLO is given per frame are counted and compared with schedules worked out by
hand from the policy's rule: a track's first K frames, then every N-th frame it is seen.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Dict, List

import cv2
import numpy as np
import pytest

from mivolo.cli.demo import build_parser
from mivolo.core.record import FACE_LABEL, PERSON_LABEL, People, people_from_detections
from mivolo.io.sources import resolve_inputs
from mivolo.jobs.pipeline import (
    ADAPTIVE,
    ESTIMATE_POLICIES,
    EVERY_FRAME,
    INTERVAL,
    EstimatePolicy,
    EstimateSchedule,
    PipelineSettings,
    face_sharpness,
)
from mivolo.jobs.video_job import VideoJobSettings, run_video
from mivolo.model.mi_volo import MiVOLO
from mivolo.tracking.tracker import load_tracker_config

FRAMES = 12
SIZE = (320, 240)
BODIES = ([20, 20, 120, 220], [180, 20, 280, 220])
GHOST = [124, 120, 178, 236]  # confidence 0.05: under every tracker threshold, never tracked


class TwoPeople:
    """Detector double: person 0 (row 0) with a face of side `face_side[frame]` (30 by default),
    person 1 (row 1) with a 30 px face, and the ghost body (row 2)."""

    def __init__(self, face_side: Dict[int, int] = None):
        self.face_side = face_side or {}
        self.frame = 0

    def detect_people(self, images) -> List[People]:
        found = []
        for _ in images:
            side = self.face_side.get(self.frame, 30)
            self.frame += 1
            boxes = [BODIES[0], [40, 30, 40 + side, 30 + side], BODIES[1], [200, 30, 230, 60], GHOST]
            labels = [PERSON_LABEL, FACE_LABEL, PERSON_LABEL, FACE_LABEL, PERSON_LABEL]
            found.append(people_from_detections(boxes, labels, [0.9, 0.9, 0.9, 0.9, 0.05]))
        return found


class Recorder:
    """A sink that keeps every frame record."""

    needs_every_frame = False

    def __init__(self):
        self.frames = []

    def planned(self):
        return []

    def open(self, info):
        pass

    def write(self, frame):
        self.frames.append(frame)

    def close(self, result):
        return {}


@pytest.fixture(scope="module")
def grey_video(tmp_path_factory) -> Path:
    # flat frames: every face crop has zero Laplacian variance, so only size can make one "better"
    path = tmp_path_factory.mktemp("video") / "grey.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    for _ in range(FRAMES):
        writer.write(np.full((SIZE[1], SIZE[0], 3), 128, np.uint8))
    writer.release()
    return path


@pytest.fixture(scope="module")
def mivolo(legacy_checkpoint_path):
    return MiVOLO(str(legacy_checkpoint_path), device="cpu", half=False, use_persons=True)


def run(grey_video, tmp_path, mivolo, policy: EstimatePolicy, batch: int = 1, face_side=None):
    """Per frame the detection rows MiVOLO was given, the network's batch sizes and the records."""
    rows_per_frame, batches = [], []
    prepare, inference = mivolo.prepare, mivolo.inference

    def counting_prepare(image, people, due=None):
        model_input, rows = prepare(image, people, due)
        rows_per_frame.append(sorted(row.person for row in rows))
        return model_input, rows

    def counting_inference(model_input):
        batches.append(model_input.shape[0])
        return inference(model_input)

    mivolo.prepare, mivolo.inference = counting_prepare, counting_inference
    try:
        predictor = SimpleNamespace(detector=TwoPeople(face_side), age_gender_model=mivolo)
        settings = VideoJobSettings(
            output_dir=tmp_path,
            tracker=load_tracker_config("botsort_static.yaml"),
            progress=False,
            pipeline=PipelineSettings(batch=batch, estimate=policy),
        )
        recorder = Recorder()
        run_video(predictor, resolve_inputs(str(grey_video)).videos[0], settings, sinks=[recorder])
    finally:
        del mivolo.prepare, mivolo.inference  # back to the class's methods
    return rows_per_frame, batches, recorder.frames


def schedule(frames_of_person: Dict[int, set]) -> List[List[int]]:
    return [sorted(p for p, frames in frames_of_person.items() if f in frames) for f in range(FRAMES)]


def test_every_frame_estimates_every_detected_row(grey_video, tmp_path, mivolo):
    rows, batches, frames = run(grey_video, tmp_path, mivolo, EstimatePolicy(EVERY_FRAME))
    assert rows == [[0, 1, 2]] * FRAMES  # the untracked ghost too, as the original
    assert batches == [3] * FRAMES
    assert all(len(frame.people) == 2 and frame.people.has_estimate.all() for frame in frames)


def test_interval_estimates_the_first_k_frames_then_every_n_th(grey_video, tmp_path, mivolo):
    # N = 4, K = 2: frames 0 and 1, then 1 + 4 = 5 and 9; the ghost never (it has no track)
    rows, batches, frames = run(grey_video, tmp_path, mivolo, EstimatePolicy(INTERVAL, every=4, after=2))
    assert rows == schedule({0: {0, 1, 5, 9}, 1: {0, 1, 5, 9}})
    assert batches == [2, 2, 2, 2]  # frames without a due person never call the network
    estimated = [frame.people.has_estimate.tolist() for frame in frames]
    assert estimated == [[f in (0, 1, 5, 9)] * 2 for f in range(FRAMES)]


def test_undue_frames_leave_the_tracks_answer_unchanged(grey_video, tmp_path, mivolo):
    _, _, frames = run(grey_video, tmp_path, mivolo, EstimatePolicy(INTERVAL, every=4, after=2))
    for person in range(2):
        answers = [frame.people.track_age[person] for frame in frames]
        assert answers[2] == answers[3] == answers[4] == answers[1]
        assert answers[6] == answers[7] == answers[8] == answers[5]
        assert answers[10] == answers[11] == answers[9]
        seen = [int(frame.people.track_frames[person]) for frame in frames]
        assert seen == list(range(1, FRAMES + 1))  # the frames still count as seen


def test_interval_batches_the_due_people_across_the_frame_batch(grey_video, tmp_path, mivolo):
    rows, batches, _ = run(grey_video, tmp_path, mivolo, EstimatePolicy(INTERVAL, every=4, after=2), batch=4)
    assert rows == schedule({0: {0, 1, 5, 9}, 1: {0, 1, 5, 9}})
    assert batches == [4, 2, 2]  # frames 0-3: 0 and 1; 4-7: 5; 8-11: 9


def test_adaptive_re_estimates_when_the_face_grows_past_the_threshold(grey_video, tmp_path, mivolo):
    # person 0's face: 30 px, 33 px from frame 3 (1.21x the area: not enough), 45 px from frame 7
    # (45^2 / 33^2 = 1.86x the largest used, at frame 5: estimated at once, and its interval restarts)
    sides = {**{f: 33 for f in range(3, 7)}, **{f: 45 for f in range(7, FRAMES)}}
    policy = EstimatePolicy(ADAPTIVE, every=4, after=2, growth=1.5)
    rows, _, _ = run(grey_video, tmp_path, mivolo, policy, face_side=sides)
    assert rows == schedule({0: {0, 1, 5, 7, 11}, 1: {0, 1, 5, 9}})


def tracked_face(x1: int) -> People:
    return People.create(1, face_xyxy=[[x1, 0, x1 + 40, 40]], body_xyxy=[[x1, 0, x1 + 40, 120]], track_id=[7])


def test_adaptive_re_estimates_a_clearly_sharper_face():
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (120, 80, 3), dtype=np.uint8)
    image = np.concatenate([cv2.GaussianBlur(noise, (0, 0), 3), noise], axis=1)  # blurred left, sharp right
    blurred, sharp = tracked_face(10), tracked_face(90)
    assert face_sharpness(image, sharp.face_xyxy[0]) > 10 * face_sharpness(image, blurred.face_xyxy[0])
    plan = EstimateSchedule(EstimatePolicy(ADAPTIVE, every=100, after=1, growth=1.5, sharpening=1.5))
    # the first frame (K = 1), then the same size: only the sharper face is due, once
    assert [bool(plan.due(image, people)[0]) for people in (blurred, blurred, sharp, sharp, blurred)] == [
        True, False, True, False, False
    ]  # fmt: skip
    interval = EstimateSchedule(EstimatePolicy(INTERVAL, every=100, after=1))
    assert [bool(interval.due(image, people)[0]) for people in (blurred, sharp)] == [True, False]


def test_a_due_person_left_without_an_estimate_is_due_again():
    plan = EstimateSchedule(EstimatePolicy(INTERVAL, every=4, after=1))
    people = tracked_face(10)
    image = np.zeros((120, 160, 3), np.uint8)
    assert plan.due(image, people).tolist() == [True]
    plan.missed([7])  # e.g. its crops were unusable
    assert [plan.due(image, people).tolist() for _ in range(3)] == [[True], [False], [False]]


def test_demo_flags_name_the_pipelines_policies_and_defaults():
    args = build_parser().parse_args(["--input", "x.mp4"])
    choices = next(a.choices for a in build_parser()._actions if a.dest == "estimate_policy")
    assert tuple(choices) == ESTIMATE_POLICIES
    default = EstimatePolicy()
    assert (args.estimate_policy, args.estimate_every, args.estimate_after) == (default.mode, default.every, default.after)
