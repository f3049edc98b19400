"""The optimised video pipeline gives the sequential path's outputs.

demo.py runs the same generated video with 3 scripted people (mivolo.devtools.scripted; the rigged detector's
forward pass runs, its boxes are replaced by 3 walking people with faces) once `--sequential`
and once optimised (`--batch 3`: batched detector and MiVOLO, threaded drawing and encoding).
With exact preprocessing the outputs are identical, down to the pixels of the output video;
with device preprocessing (mivolo.model.device_preprocessing, here on the CPU device) they agree within
the bound of tests/test_gpu_preprocessing.py.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch

from mivolo.jobs.pipeline import PipelineSettings
from mivolo.devtools.scripted import ScriptedDetector, scripted_boxes
from mivolo.devtools.scripted import main as scripted_demo
from mivolo.model.predictor import Predictor
from mivolo.io.sources import resolve_inputs
from mivolo.devtools.synthetic import write_figure_video
from mivolo.tracking.tracker import load_tracker_config
from mivolo.jobs.video_job import VideoJobSettings, run_video
from mivolo.sinks.registry import output_options

SIZE = (320, 240)
FRAMES = 8
PEOPLE = 3
DETECTOR_IMGSZ = 64
AGE_BOUND_YEARS = 0.25  # tests/test_gpu_preprocessing.py


@pytest.fixture(scope="module", autouse=True)
def two_torch_threads():
    threads = torch.get_num_threads()
    torch.set_num_threads(2)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return write_figure_video(tmp_path_factory.mktemp("video") / "walk.avi", frames=FRAMES, size=SIZE)


def run_demo(video, out: Path, detector_path, checkpoint, *flags) -> dict:
    code = scripted_demo(["--people", str(PEOPLE), "--input", str(video), "--output", str(out), "--draw",
                          "--save-json", "--no-progress", "--tracker", "botsort_static.yaml", "--detector-weights",
                          str(detector_path), "--checkpoint", str(checkpoint), "--device", "cpu",
                          "--detector-imgsz", str(DETECTOR_IMGSZ), "--with-persons", *flags])  # fmt: skip
    assert code == 0
    return {
        "summary": json.loads((out / "walk_summary.json").read_text()),
        "frames": json.loads((out / "walk_frames.json").read_text()),
        "mot": (out / "walk_mot.txt").read_text(),
        "video": out / "out_walk.avi",
    }


def decoded_frames(path):
    capture = cv2.VideoCapture(str(path))
    frames = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        frames.append(frame)
    capture.release()
    return frames


@pytest.fixture(scope="module")
def sequential(video, tmp_path_factory, detector_path, legacy_checkpoint_path):
    return run_demo(video, tmp_path_factory.mktemp("sequential"), detector_path, legacy_checkpoint_path, "--sequential")


def test_scripted_detections_put_k_people_with_faces_in_every_frame(sequential):
    assert [frame["total_people"] for frame in sequential["frames"]] == [PEOPLE] * FRAMES
    assert sequential["summary"]["run"]["unique_people"] == PEOPLE
    boxes = scripted_boxes(5, *SIZE, PEOPLE)
    bodies, faces = boxes[0::2], boxes[1::2]
    assert len(bodies) == PEOPLE and np.all(faces[:, :2] >= bodies[:, :2]) and np.all(faces[:, 2:] <= bodies[:, 2:])


def test_optimised_path_gives_the_sequential_outputs(video, tmp_path, sequential, detector_path, legacy_checkpoint_path):
    optimised = run_demo(video, tmp_path, detector_path, legacy_checkpoint_path, "--batch", "3")
    assert optimised["summary"]["settings"]["batch"] == 3 and sequential["summary"]["settings"]["batch"] == 1
    assert optimised["frames"] == sequential["frames"]
    assert optimised["mot"] == sequential["mot"]
    assert optimised["summary"]["people"] == sequential["summary"]["people"]
    fast_frames, slow_frames = decoded_frames(optimised["video"]), decoded_frames(sequential["video"])
    assert len(fast_frames) == len(slow_frames) == FRAMES
    assert all(np.array_equal(a, b) for a, b in zip(fast_frames, slow_frames))
    stages = optimised["summary"]["run"]["stage_ms_per_frame"]
    assert {"decode", "detect", "track", "crop_preprocess", "mivolo", "aggregate", "draw", "encode"} <= set(stages)


def test_device_preprocessing_pipeline_agrees_within_the_bound(video, tmp_path, sequential, detector_path, legacy_checkpoint_path):
    config = SimpleNamespace(detector_weights=detector_path, checkpoint=legacy_checkpoint_path, device="cpu",
                             with_persons=True, half=False, detector_imgsz=DETECTOR_IMGSZ)  # fmt: skip
    predictor = Predictor(config)
    predictor.detector = ScriptedDetector(predictor.detector, PEOPLE)
    settings = VideoJobSettings(
        output_dir=tmp_path,
        tracker=load_tracker_config("botsort_static.yaml"),
        outputs=output_options(save_json=True),
        progress=False,
        pipeline=PipelineSettings(batch=4, device_preprocessing=True, threaded_writer=True),
    )
    result = run_video(predictor, resolve_inputs(str(video)).videos[0], settings)
    summary = json.loads(result.outputs["summary_json"].read_text())
    assert summary["settings"]["device_preprocessing"] is True
    assert result.outputs["mot"].read_text() == sequential["mot"]  # same tracks, boxes and IDs
    people = {p["id"]: p for p in summary["people"]}
    reference = {p["id"]: p for p in sequential["summary"]["people"]}
    assert people.keys() == reference.keys()
    for track_id, person in people.items():
        assert abs(person["age"] - reference[track_id]["age"]) <= AGE_BOUND_YEARS
        assert person["gender"] == reference[track_id]["gender"]
