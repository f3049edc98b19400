"""demo.py on generated videos through the real path: decode -> YOLOv8 detector (synthetic
weights, rigged to always fire) -> association -> MiVOLO (random legacy checkpoint) -> tracker
-> aggregation -> exports. Videos are a few frames at 320x240 to keep the CPU cost small."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import cv2
import pytest

from mivolo.cli.demo import main
from mivolo.model.yolo_detector import Detector
from mivolo.model.predictor import Predictor
from mivolo.io.sources import resolve_inputs
from mivolo.devtools.synthetic import figure_frame, write_figure_video
from mivolo.tracking.tracker import load_tracker_config
from mivolo.jobs.video_job import StopRequest, VideoJobSettings, run_video
from mivolo.sinks.registry import output_options

REPO = Path(__file__).resolve().parent.parent
SIZE = (320, 240)
FPS = 10.0
DETECTOR_IMGSZ = 64  # the rigged detector then finds one body with its face and one lone face: cheap, and a real pair


@pytest.fixture(scope="module")
def humans_per_frame(detector_path):
    """How many humans the rigged detector shows in a frame: faces + bodies - face/body pairs."""
    detections = Detector(detector_path, device="cpu", half=False, imgsz=DETECTOR_IMGSZ).predict(figure_frame(0, SIZE))
    detections.associate_faces_with_persons()
    humans = len(detections.people())
    assert 0 < humans < detections.n_objects  # some faces sit on bodies: naive tracking would double-count
    return humans


def model_flags(detector_path, checkpoint_path):
    return [
        "--detector-weights",
        str(detector_path),
        "--checkpoint",
        str(checkpoint_path),
        "--device",
        "cpu",
        "--detector-imgsz",
        str(DETECTOR_IMGSZ),
    ]


def video_stats(path):
    capture = cv2.VideoCapture(str(path))
    stats = (
        int(capture.get(cv2.CAP_PROP_FRAME_COUNT)),
        int(capture.get(cv2.CAP_PROP_FRAME_WIDTH)),
        int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT)),
        capture.get(cv2.CAP_PROP_FPS),
    )
    capture.release()
    return stats


def test_video_end_to_end_with_every_output(tmp_path, detector_path, legacy_checkpoint_path, humans_per_frame, capsys):
    video = write_figure_video(tmp_path / "street.mp4", frames=6, size=SIZE, fps=FPS)
    out = tmp_path / "out"
    flags = [
        "--draw",
        "--save-json",
        "--save-crops",
        "--crop-every",
        "2",
        "--tracker",
        "bytetrack.yaml",
        "--no-progress",
    ]
    assert (
        main(["--input", str(video), "--output", str(out), *flags, *model_flags(detector_path, legacy_checkpoint_path)])
        == 0
    )

    printed = capsys.readouterr().out
    assert "Video processing completed!\nTotal frames processed: 6\n" in printed
    assert re.search(r"Average processing FPS: \d+\.\d\d\nOutput video saved to: .*out_street\.avi", printed)

    assert video_stats(out / "out_street.avi") == (6, 320, 240, FPS)
    n = humans_per_frame
    records = json.loads((out / "street_frames.json").read_text())
    assert [r["frame"] for r in records] == list(range(6))
    assert [r["time_s"] for r in records] == pytest.approx([i / FPS for i in range(6)])
    for record in records:
        assert record["total_people"] == n == len(record["people_data"])
        assert sorted(p["id"] for p in record["people_data"]) == list(range(1, n + 1))
        assert record["man"] + record["woman"] == n
        assert sum(v for k, v in record.items() if k.startswith("age_")) == n
        for person in record["people_data"]:
            assert (out / person["cropped_img"]).is_file()  # relative to the JSON file
    assert records[2]["people_data"][0]["cropped_img"] == "crops/street/1_2.jpg"  # every 2nd frame of a track
    assert records[1]["people_data"][0]["cropped_img"] == "crops/street/best_1.jpg"

    summary = json.loads((out / "street_summary.json").read_text())
    run = summary["run"]
    assert (run["unique_people"], run["peak_concurrent_people"], run["frames_read"], run["frames_analysed"]) == (
        n,
        n,
        6,
        6,
    )
    assert run["completed"] is True and run["frames_corrupt"] == 0
    assert run["gender"]["man"] + run["gender"]["woman"] == n and sum(run["age_buckets"].values()) == n
    assert [p["frames_seen"] for p in summary["people"]] == [6] * n
    assert summary["people"][0]["first_seen_s"] == 0.0 and summary["people"][0]["last_seen_s"] == pytest.approx(0.5)
    for person in summary["people"]:
        assert (out / person["best_crop"]).is_file()
        final_age = person["age"]
        last_shown = next(p for p in records[-1]["people_data"] if p["id"] == person["id"])
        assert last_shown["age"] == round(final_age)

    crops = sorted(p.name for p in (out / "crops" / "street").iterdir())
    expected = [f"best_{i}.jpg" for i in range(1, n + 1)] + [f"{i}_{f}.jpg" for i in range(1, n + 1) for f in (0, 2, 4)]
    assert crops == sorted(expected)
    mot = [line.split(",") for line in (out / "street_mot.txt").read_text().splitlines()]
    assert len(mot) == 6 * n and {row[0] for row in mot} == {str(f) for f in range(1, 7)}
    assert all(row[7:] == ["-1", "-1", "-1"] for row in mot)
    assert sorted(p.name for p in out.iterdir()) == [
        "crops",
        "out_street.avi",
        "street_frames.json",
        "street_mot.txt",
        "street_summary.json",
    ]


def test_skip_frames_global_smoothing_and_a_corrupt_frame(
    tmp_path, detector_path, legacy_checkpoint_path, humans_per_frame
):
    video = write_figure_video(
        tmp_path / "lobby.avi", frames=7, size=SIZE, fps=FPS
    )  # MJPEG: frames corruptible one by one
    data = bytearray(video.read_bytes())
    frame_4 = [m.start() for m in re.finditer(b"\xff\xd8\xff", bytes(data))][4]
    data[frame_4 : frame_4 + 400] = bytes(400)
    video.write_bytes(bytes(data))
    out, json_path = tmp_path / "out", tmp_path / "elsewhere" / "lobby.json"
    flags = [
        "--draw",
        "--skip-frames",
        "2",
        "--global-smoothing",
        "--tracker",
        "botsort",
        "--json-output-path",
        str(json_path),
    ]
    assert (
        main(
            [
                "--input",
                str(video),
                "--output",
                str(out),
                "--no-progress",
                *flags,
                *model_flags(detector_path, legacy_checkpoint_path),
            ]
        )
        == 0
    )

    assert video_stats(out / "out_lobby.avi")[:3] == (7, 320, 240)  # every frame kept, the corrupt one too
    records = json.loads(json_path.read_text())
    assert [r["frame"] for r in records] == [0, 3, 6]
    assert [r["time"] for r in records] == ["0.0 sec", "0.3 sec", "0.6 sec"]
    summary = json.loads((out / "lobby_summary.json").read_text())
    assert (
        summary["run"]["frames_read"] == 7
        and summary["run"]["frames_analysed"] == 3
        and summary["run"]["frames_corrupt"] == 1
    )
    assert summary["run"]["unique_people"] == humans_per_frame
    final_age = {p["id"]: round(p["age"]) for p in summary["people"]}
    for record in records:  # global smoothing: the track's final age in every frame
        assert {p["id"]: p["age"] for p in record["people_data"]} == final_age
    assert summary["outputs"]["frames_json"] == "../elsewhere/lobby.json"


@pytest.mark.parametrize(
    "flags, mode",
    [
        (["--confidence-based", "--min-detection-conf", "0.3", "--min-gender-conf", "0.5"], "confidence-based"),
        (["--temporal-smoothing", "--smoothing-window", "2"], "temporal-smoothing"),
        (["--temporal-smoothing", "--global-smoothing"], "global-smoothing"),  # the earlier fork's spelling
    ],
)
def test_each_aggregation_mode_end_to_end(tmp_path, detector_path, legacy_checkpoint_path, humans_per_frame, flags, mode):
    video = write_figure_video(tmp_path / "door.mp4", frames=3, size=SIZE, fps=FPS)
    out = tmp_path / "out"
    args = ["--input", str(video), "--output", str(out), "--save-json", "--with-persons", "--no-progress", *flags]
    assert main([*args, *model_flags(detector_path, legacy_checkpoint_path)]) == 0
    summary = json.loads((out / "door_summary.json").read_text())
    assert summary["settings"]["aggregation"] == mode and summary["run"]["unique_people"] == humans_per_frame
    last = {p["id"]: p["age"] for p in json.loads((out / "door_frames.json").read_text())[-1]["people_data"]}
    assert last == {p["id"]: round(p["age"]) for p in summary["people"]}


def test_sigint_mid_video_leaves_valid_outputs(tmp_path, detector_path, legacy_checkpoint_path):
    video = write_figure_video(tmp_path / "long.mp4", frames=300, size=SIZE, fps=FPS)
    out = tmp_path / "out"
    command = [
        sys.executable,
        str(REPO / "demo.py"),
        "--input",
        str(video),
        "--output",
        str(out),
        "--draw",
        "--save-json",
        "--no-progress",
    ]
    env = {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1", "YOLO_OFFLINE": "1"}
    process = subprocess.Popen(
        command + model_flags(detector_path, legacy_checkpoint_path),
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 120

    def frame_logged() -> bool:  # the run's frame log (a unique hidden name) holds a frame
        return any(log.stat().st_size > 0 for log in out.glob(".long.frames.*.jsonl"))

    while not frame_logged():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no frame analysed in time"
        time.sleep(0.2)
    process.send_signal(signal.SIGINT)
    stdout, stderr = process.communicate(timeout=120)

    assert process.returncode == 130, stderr
    assert "Video processing stopped (SIGINT)!" in stdout
    summary = json.loads((out / "long_summary.json").read_text())
    run = summary["run"]
    assert run["stopped_by"] == "SIGINT" and run["completed"] is False
    assert 1 <= run["frames_analysed"] == run["frames_read"] < 300
    records = json.loads((out / "long_frames.json").read_text())
    assert len(records) == run["frames_analysed"]
    assert video_stats(out / "out_long.avi")[0] == run["frames_read"]
    assert sorted(p.name for p in out.iterdir()) == [
        "long_frames.json",
        "long_mot.txt",
        "long_summary.json",
        "out_long.avi",
    ]


def test_folder_of_videos_one_summary_each_and_a_broken_file_skipped(
    tmp_path, detector_path, legacy_checkpoint_path, humans_per_frame, capsys
):
    folder = tmp_path / "videos"
    for name in ("a", "b"):
        write_figure_video(folder / f"{name}.mp4", frames=3, size=SIZE, fps=FPS)
    (folder / "broken.mp4").write_bytes(b"not a video at all")
    out, json_folder = tmp_path / "out", tmp_path / "frames"
    args = ["--input", str(folder), "--output", str(out), "--json-output-path", str(json_folder), "--no-progress"]
    assert main([*args, *model_flags(detector_path, legacy_checkpoint_path)]) == 0

    printed = capsys.readouterr()
    assert printed.out.count("Video processing completed!") == 2
    assert "Videos: 2 processed, 1 failed" in printed.out and "skipped" in printed.err
    for name in ("a", "b"):
        summary = json.loads((out / f"{name}_summary.json").read_text())
        assert summary["run"]["frames_read"] == 3 and summary["run"]["unique_people"] == humans_per_frame
        assert len(json.loads((json_folder / f"{name}_frames.json").read_text())) == 3


def test_images_still_work_next_to_videos(tmp_path, detector_path, legacy_checkpoint_path, capsys):
    image = tmp_path / "photo.jpg"
    cv2.imwrite(str(image), figure_frame(3, SIZE))
    assert (
        main(
            [
                "--input",
                str(image),
                "--output",
                str(tmp_path / "out"),
                "--draw",
                *model_flags(detector_path, legacy_checkpoint_path),
            ]
        )
        == 0
    )
    document = json.loads((tmp_path / "out" / "images.json").read_text())
    assert document["summary"]["processed"] == 1 and (tmp_path / "out" / "out_photo.jpg").is_file()
    assert "Results saved to:" in capsys.readouterr().out


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--confidence-based", "--temporal-smoothing"], "cannot be combined"),
        (["--skip-frames", "-1"], "--skip-frames must be at least 0"),
        (["--min-gender-conf", "1.5"], "--min-gender-conf must be between 0 and 1"),
        (["--tracker", "nosuch.yaml"], "tracker config not found"),
    ],
)
def test_bad_video_flags_exit_2_before_loading_models(tmp_path, flags, message, capsys):
    video = write_figure_video(tmp_path / "v.mp4", frames=2, size=(64, 48))
    args = [
        "--input",
        str(video),
        "--output",
        str(tmp_path / "out"),
        "--detector-weights",
        str(tmp_path / "absent.pt"),
        *flags,
    ]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_stop_request_turns_signals_into_a_flag_and_restores_handlers():
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signal_name == "SIGTERM"
        with pytest.raises(KeyboardInterrupt):  # Ctrl-C after a stop request: stop at once
            os.kill(os.getpid(), signal.SIGINT)
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == previous


class SignalsOnSecondFrame:
    """Wraps the real detector and sends this process SIGTERM while frame 2 is analysed."""

    def __init__(self, detector):
        self.detector = detector
        self.calls = 0

    def detect_people(self, images):
        self.calls += 1
        if self.calls == 2:
            os.kill(os.getpid(), signal.SIGTERM)
        return self.detector.detect_people(images)


def test_sigterm_mid_video_finishes_the_frame_and_writes_everything(tmp_path, detector_path, legacy_checkpoint_path):
    config = SimpleNamespace(
        detector_weights=detector_path,
        checkpoint=legacy_checkpoint_path,
        device="cpu",
        with_persons=True,
        disable_faces=False,
        draw=False,
        half=False,
        detector_imgsz=DETECTOR_IMGSZ,
    )
    predictor = Predictor(config)
    predictor.detector = SignalsOnSecondFrame(predictor.detector)
    video = write_figure_video(tmp_path / "hall.mp4", frames=20, size=SIZE, fps=FPS)
    settings = VideoJobSettings(
        output_dir=tmp_path,
        tracker=load_tracker_config("bytetrack"),
        outputs=output_options(draw=True, save_json=True),
        min_track_length=1,
        progress=False,
    )
    result = run_video(predictor, resolve_inputs(str(video)).videos[0], settings)

    assert result.stats.stopped_by == "SIGTERM" and result.stats.frames_read == result.stats.frames_analysed == 2
    assert video_stats(result.outputs["video"])[0] == 2
    assert len(json.loads(result.outputs["frames_json"].read_text())) == 2
    assert json.loads(result.outputs["summary_json"].read_text())["run"]["stopped_by"] == "SIGTERM"
