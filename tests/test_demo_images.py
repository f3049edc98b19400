"""demo.py on images, end to end in a subprocess: files written, JSON read back, bad input."""

import json
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from mivolo.core.errors import CheckpointError
from mivolo.model.yolo_detector import Detector

ROOT = Path(__file__).resolve().parents[1]


def run_demo(*args, env=None, cwd=ROOT):
    return subprocess.run(
        [sys.executable, str(ROOT / "demo.py"), *map(str, args)],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        timeout=300,
    )


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.RandomState(0)
    cv2.imwrite(str(folder / "one.jpg"), rng.randint(0, 255, (240, 320, 3), dtype=np.uint8))
    (folder / "nested").mkdir()
    cv2.imwrite(str(folder / "nested" / "TWO.PNG"), rng.randint(0, 255, (240, 320, 3), dtype=np.uint8))
    (folder / "broken.jpg").write_text("this is not a jpeg")
    (folder / "notes.txt").write_text("ignored: not an image extension")
    return folder


def _model_args(detector_path, checkpoint):
    return ["--detector-weights", detector_path, "--checkpoint", checkpoint, "--device", "cpu", "--detector-imgsz", "160"]


def test_folder_run_writes_annotations_and_json(tmp_path, image_folder, detector_path, legacy_checkpoint_path):
    out = tmp_path / "out"
    proc = run_demo("--input", image_folder, "--output", out, "--draw", "--with-persons", *_model_args(detector_path, legacy_checkpoint_path))
    assert proc.returncode == 0, proc.stderr
    assert "Processed 2/3 images" in proc.stdout and "1 failed" in proc.stdout
    report = json.loads((out / "images.json").read_text())
    assert report["version"] == 1
    assert report["summary"]["failed"] == 1 and "broken.jpg" in report["summary"]["errors"][0]
    assert sorted(Path(r["path"]).name for r in report["images"]) == ["TWO.PNG", "one.jpg"]

    # the detector is deterministic: the JSON must hold exactly its people
    detector = Detector(detector_path, device="cpu", half=False, imgsz=160)
    for record in report["images"]:
        annotated = cv2.imread(str(out / record["annotated_image"]))
        assert annotated.shape == (240, 320, 3)
        detections = detector.predict(cv2.imread(record["path"]))
        detections.associate_faces_with_persons()
        expected_people = len(detections.face_to_person_map) + len(detections.unassigned_persons_inds)
        assert len(record["people"]) == expected_people > 0
        for person in record["people"]:
            assert person["face_box"] is not None or person["person_box"] is not None
            if person["age"] is not None:
                assert person["gender"] in ("male", "female") and 0.5 <= person["gender_score"] <= 1.0
    assert sorted(p.name for p in out.iterdir()) == ["images.json", "out_TWO.jpg", "out_one.jpg"]


def test_single_image_with_safetensors_checkpoint_and_custom_json_path(tmp_path, image_folder, detector_path, hf_checkpoint_dir):
    json_path = tmp_path / "elsewhere" / "run.json"
    proc = run_demo(
        "--input", image_folder / "one.jpg", "--output", tmp_path / "out", "--json-output-path", json_path,
        *_model_args(detector_path, hf_checkpoint_dir),
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(json_path.read_text())
    assert len(report["images"]) == 1 and report["images"][0]["annotated_image"] is None
    assert all(p["age"] is not None for p in report["images"][0]["people"] if p["face_index"] is not None)


def _assert_clean_failure(proc, out_dir, *fragments):
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo.py: error:"), proc.stderr  # one line, no warnings
    for fragment in fragments:
        assert fragment in lines[-1]
    assert not (out_dir / "images.json").exists()


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory, legacy_checkpoint_path):
    folder = tmp_path_factory.mktemp("bad")
    data = legacy_checkpoint_path.read_bytes()
    (folder / "truncated.pth.tar").write_bytes(data[: len(data) // 3])
    import timm
    import torch

    torch.save(
        {"state_dict": timm.create_model("resnet18", num_classes=3).state_dict(), "min_age": 1, "max_age": 95, "avg_age": 48, "no_gender": False},
        folder / "resnet.pth.tar",
    )
    (folder / "not_an_image.jpg").write_bytes(b"\x00" * 100)
    ok, png = cv2.imencode(".png", np.random.RandomState(1).randint(0, 255, (48, 64, 3), dtype=np.uint8))
    (folder / "truncated.png").write_bytes(png.tobytes()[: len(png) // 3])  # libpng used to print its own line
    (folder / "a_file").write_text("a file where a folder should be")
    return folder


@pytest.mark.parametrize(
    "case,fragments",
    [
        ("missing_input", ["input not found"]),
        ("non_image_input", ["not a decodable image"]),
        ("truncated_png_input", ["not a decodable image"]),
        ("detector_as_checkpoint", ["--detector-weights"]),
        ("checkpoint_as_detector", ["--checkpoint"]),
        ("other_architecture", ["not a MiVOLO/VOLO checkpoint"]),
        ("truncated_checkpoint", ["truncated or corrupt"]),
        ("unwritable_output", ["cannot be created", "is not a folder"]),
    ],
)
def test_bad_input_gives_one_line_and_exit_2(case, fragments, tmp_path, image_folder, bad_files, detector_path, legacy_checkpoint_path):
    out = tmp_path / "out"
    image, detector, checkpoint = image_folder / "one.jpg", detector_path, legacy_checkpoint_path
    if case == "missing_input":
        image = tmp_path / "nope.jpg"
    elif case == "non_image_input":
        image = bad_files / "not_an_image.jpg"
    elif case == "truncated_png_input":
        image = bad_files / "truncated.png"
    elif case == "detector_as_checkpoint":
        checkpoint = detector_path
    elif case == "checkpoint_as_detector":
        detector = legacy_checkpoint_path
    elif case == "other_architecture":
        checkpoint = bad_files / "resnet.pth.tar"
    elif case == "truncated_checkpoint":
        checkpoint = bad_files / "truncated.pth.tar"
    elif case == "unwritable_output":
        out = bad_files / "a_file" / "out"
    proc = run_demo("--input", image, "--output", out, *_model_args(detector, checkpoint))
    _assert_clean_failure(proc, out, *fragments)


def test_verbose_shows_the_traceback(tmp_path, detector_path, legacy_checkpoint_path):
    proc = run_demo("--input", tmp_path / "nope.jpg", "--output", tmp_path, "--verbose", *_model_args(detector_path, legacy_checkpoint_path))
    assert proc.returncode != 0 and "Traceback" in proc.stderr


def test_detector_refuses_non_detector_files(tmp_path, legacy_checkpoint_path):
    with pytest.raises(CheckpointError, match="--checkpoint"):
        Detector(legacy_checkpoint_path, device="cpu")
    renamed = tmp_path / "mivolo.pt"
    renamed.write_bytes(legacy_checkpoint_path.read_bytes())
    with pytest.raises(CheckpointError, match="not an ultralytics detector"):
        Detector(renamed, device="cpu")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.mkdir, (self.marker,))


def test_detector_malicious_pickle_never_runs(tmp_path, detector_path):
    import torch

    checkpoint = torch.load(detector_path, weights_only=False)  # our own generated file
    checkpoint["extra"] = _Payload(str(tmp_path / "pwned"))
    torch.save(checkpoint, tmp_path / "evil.pt")
    with pytest.raises(CheckpointError):
        Detector(tmp_path / "evil.pt", device="cpu")
    assert not (tmp_path / "pwned").exists()


def test_help_teaches():
    proc = run_demo("--help")
    assert proc.returncode == 0
    for flag in ("--input", "--output", "--detector-weights", "--checkpoint", "--device", "--with-persons", "--disable-faces", "--draw", "--half"):
        assert flag in proc.stdout
    assert "examples:" in proc.stdout
