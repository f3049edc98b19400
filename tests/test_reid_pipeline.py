"""Re-ID in the video pipeline: demo.py --reid / the YAML's model, and --reid-merge end to end.

The Re-ID network is a real OSNet x0_25 with random weights, saved in the torchreid file layout
and loaded through the registry. The merge test's detector is a scripted test double (the test
is about tracking and export logic); MiVOLO is the real random-weight checkpoint.
"""

import json
from pathlib import Path
from types import SimpleNamespace

import cv2
import numpy as np
import pytest
import torch
import yaml

from mivolo.cli.demo import main
from mivolo.model.predictor import Predictor
from mivolo.reid import load_reid_encoder
from mivolo.devtools.reid_synthetic import write_public_weights
from mivolo.io.sources import resolve_inputs
from mivolo.core.record import People, people_from_detections
from mivolo.sinks.registry import output_options
from mivolo.devtools.synthetic import write_figure_video
from mivolo.tracking.tracker import TRACKER_DIR, load_tracker_config, reid_model_name
from mivolo.jobs.video_job import VideoJobSettings, run_video

SIZE = (320, 240)
DETECTOR_IMGSZ = 64


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def osnet_path(tmp_path_factory):
    return write_public_weights("osnet_x0_25", tmp_path_factory.mktemp("reid") / "osnet_x0_25_random.pth", seed=3)


def tracker_yaml(folder: Path, **changes) -> Path:
    settings = yaml.safe_load((TRACKER_DIR / "botsort.yaml").read_text())
    settings.update(gmc_method="none", **changes)
    path = folder / "botsort_test.yaml"
    path.write_text(yaml.safe_dump(settings))
    return path


def model_flags(detector_path, checkpoint_path):
    return ["--detector-weights", str(detector_path), "--checkpoint", str(checkpoint_path), "--device", "cpu",
            "--detector-imgsz", str(DETECTOR_IMGSZ), "--no-progress"]  # fmt: skip


def test_demo_reid_flag_loads_the_model_and_says_so(tmp_path, detector_path, legacy_checkpoint_path, osnet_path, capsys):
    video = write_figure_video(tmp_path / "walk.avi", frames=6, size=SIZE)
    code = main(["--input", str(video), "--output", str(tmp_path / "out"), "--reid", str(osnet_path), "--save-json"]
                + model_flags(detector_path, legacy_checkpoint_path))  # fmt: skip
    printed = capsys.readouterr().out
    assert code == 0
    assert "Re-ID: osnet_x0_25_random (OSNet osnet_x0_25, 512-d embeddings, 0.2M parameters) on cpu\n" in printed
    summary = json.loads((tmp_path / "out" / "walk_summary.json").read_text())
    assert summary["settings"]["reid_model"] == "osnet_x0_25_random"
    assert summary["run"]["frames_analysed"] == 6 and summary["run"]["unique_people"] >= 1


def test_yaml_model_key_is_read_and_drives_reid_merge(tmp_path, detector_path, legacy_checkpoint_path, osnet_path, capsys):
    config_path = tracker_yaml(tmp_path, with_reid=True, model=str(osnet_path))
    config = load_tracker_config(str(config_path))
    assert config.model == str(osnet_path) and reid_model_name(config) == str(osnet_path)
    assert reid_model_name(config, "other_model") == "other_model"  # --reid overrides the YAML
    video = write_figure_video(tmp_path / "walk.avi", frames=5, size=SIZE)
    code = main(["--input", str(video), "--output", str(tmp_path / "out"), "--tracker", str(config_path), "--reid-merge", "0.9"]
                + model_flags(detector_path, legacy_checkpoint_path))  # fmt: skip
    assert code == 0 and "512-d embeddings" in capsys.readouterr().out
    summary = json.loads((tmp_path / "out" / "walk_summary.json").read_text())
    assert summary["settings"]["reid_model"] == "osnet_x0_25_random"
    assert summary["settings"]["reid_merge_threshold"] == 0.9
    assert summary["run"]["tracks_before_merge"] >= summary["run"]["unique_people"] >= 1


@pytest.mark.parametrize(
    "extra, yaml_changes, message",
    [
        (["--reid", "osnet_x0_25_msmt17", "--tracker", "bytetrack.yaml"], None, "--reid needs a BoT-SORT tracker config"),
        (["--reid-merge"], None, "--reid-merge needs a Re-ID model"),
        ([], {"with_reid": True}, "with_reid is true but no Re-ID model is named"),
    ],
)
def test_reid_misuse_is_one_line_and_exit_2(tmp_path, extra, yaml_changes, message, capsys):
    video = write_figure_video(tmp_path / "walk.avi", frames=2, size=SIZE)
    if yaml_changes is not None:
        extra = extra + ["--tracker", str(tracker_yaml(tmp_path, **yaml_changes))]
    code = main(["--input", str(video), "--output", str(tmp_path / "out"), "--detector-weights", str(tmp_path / "none.pt")] + extra)
    error = capsys.readouterr().err
    assert code == 2 and message in error and len(error.strip().splitlines()) == 1


def test_yaml_model_must_be_text(tmp_path):
    with pytest.raises(Exception, match="model must be a str"):
        load_tracker_config(str(tracker_yaml(tmp_path, with_reid=True, model=3)))


# ---- --reid-merge end to end ---------------------------------------------------------------------

TRACK_BUFFER = 3
PRESENT_BEFORE, AWAY, PRESENT_AFTER = 6, TRACK_BUFFER + 6, 6


def person_at(frame: int):
    """Body and face box of the one person, or None while they are away."""
    if PRESENT_BEFORE <= frame < PRESENT_BEFORE + AWAY:
        return None
    x = 40 + 4 * frame
    return [x, 60, x + 60, 200], [x + 15, 64, x + 45, 94]


def write_return_video(path: Path) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, SIZE)
    for frame in range(PRESENT_BEFORE + AWAY + PRESENT_AFTER):
        image = np.full((SIZE[1], SIZE[0], 3), 90, np.uint8)
        boxes = person_at(frame)
        if boxes is not None:
            (x1, y1, x2, y2), (fx1, fy1, fx2, fy2) = boxes
            image[y1:y2, x1:x2] = (40, 40, 220)
            image[fy1:fy2, fx1:fx2] = (150, 180, 230)
        writer.write(image)
    writer.release()
    return path


class ScriptedOnePerson:
    """Detector test double: the person's boxes where the script puts them, frame by frame."""

    def __init__(self):
        self.frame = 0

    def detect_people(self, images):
        return [self._people() for _ in images]

    def _people(self):
        boxes = person_at(self.frame)
        self.frame += 1
        if boxes is None:
            return People.empty()
        return people_from_detections(np.array(boxes, np.float32), ["person", "face"], [0.9, 0.9])


@pytest.fixture(scope="module")
def mivolo_predictor(legacy_checkpoint_path, detector_path):
    config = SimpleNamespace(
        detector_weights=detector_path, checkpoint=legacy_checkpoint_path, device="cpu", with_persons=True,
        disable_faces=False, draw=False, half=False, detector_imgsz=DETECTOR_IMGSZ,
    )  # fmt: skip
    return Predictor(config)


@pytest.mark.parametrize("merge, people", [(None, 2), (0.75, 1)])
def test_reid_merge_joins_a_person_who_came_back_after_the_track_buffer(
    tmp_path, mivolo_predictor, osnet_path, merge, people
):
    video = write_return_video(tmp_path / "return.avi")
    mivolo_predictor.detector = ScriptedOnePerson()
    settings = VideoJobSettings(
        output_dir=tmp_path,
        tracker=load_tracker_config(str(tracker_yaml(tmp_path, track_buffer=TRACK_BUFFER))),
        outputs=output_options(save_json=True),
        progress=False,
        reid_merge_threshold=merge,
    )
    result = run_video(mivolo_predictor, resolve_inputs(str(video)).videos[0], settings, load_reid_encoder(osnet_path, "cpu"))
    summary = json.loads(result.outputs["summary_json"].read_text())
    frames = json.loads(result.outputs["frames_json"].read_text())
    mot_ids = {line.split(",")[1] for line in result.outputs["mot"].read_text().splitlines()}
    json_ids = {person["id"] for frame in frames for person in frame["people_data"]}
    assert summary["run"]["unique_people"] == len(summary["people"]) == people
    assert len(mot_ids) == len(json_ids) == people
    # BoT-SORT confirms a track after the first frame of a video at once, later ones on their second frame
    assert sum(person["frames_seen"] for person in summary["people"]) == PRESENT_BEFORE + PRESENT_AFTER - 1
    if merge is not None:
        assert summary["run"]["tracks_before_merge"] == 2
        (person,) = summary["people"]
        assert person["first_seen_s"] == 0.0 and person["last_seen_s"] == pytest.approx(
            (PRESENT_BEFORE + AWAY + PRESENT_AFTER - 1) / 10.0, abs=0.01
        )
        assert mot_ids == {str(person["id"])} and json_ids == {person["id"]}
