"""`--backend` through demo.py and eval_pretrained.py: exported models give the torch results."""

import json

import cv2
import numpy as np
import pytest
from test_demo_images import run_demo
from test_eval_pretrained import PERSON_HEADER, dataset_args, run_eval, write_csv, write_image


AGE_TOLERANCE = 0.011  # ages are rounded to 2 decimals; fp32 reorderings move them by < 1e-3


@pytest.fixture(scope="module")
def onnx_files(exported_models):
    """The session's MiVOLO checkpoint and detector as ONNX (exported once per session in conftest)."""
    return exported_models["onnx"]["mivolo"], exported_models["onnx"]["detector"]


def _people(out_dir):
    return json.loads((out_dir / "images.json").read_text())["images"][0]["people"]


def test_demo_with_onnx_backend_matches_torch(tmp_path, onnx_files, legacy_checkpoint_path, detector_path):
    mivolo_onnx, detector_onnx = onnx_files
    cv2.imwrite(str(tmp_path / "p.png"), np.random.RandomState(3).randint(0, 255, (240, 320, 3), dtype=np.uint8))
    common = ["--input", tmp_path / "p.png", "--device", "cpu", "--detector-imgsz", "160", "--with-persons"]
    torch_run = run_demo(*common, "--output", tmp_path / "t", "--detector-weights", detector_path, "--checkpoint", legacy_checkpoint_path)
    onnx_run = run_demo(
        *common, "--output", tmp_path / "o", "--detector-weights", detector_onnx, "--checkpoint", mivolo_onnx, "--backend", "onnx"
    )
    assert torch_run.returncode == 0, torch_run.stderr
    assert onnx_run.returncode == 0, onnx_run.stderr
    expected, actual = _people(tmp_path / "t"), _people(tmp_path / "o")
    assert len(actual) == len(expected) > 0
    for want, got in zip(expected, actual):
        assert got["gender"] == want["gender"]
        assert got["age"] == pytest.approx(want["age"], abs=AGE_TOLERANCE)
        assert got["face_box"] == pytest.approx(want["face_box"], abs=0.05) if want["face_box"] else got["face_box"] is None


def test_backend_that_does_not_fit_the_file_is_one_line(tmp_path, legacy_checkpoint_path, detector_path):
    cv2.imwrite(str(tmp_path / "p.png"), np.zeros((64, 64, 3), np.uint8))
    proc = run_demo(
        "--input", tmp_path / "p.png", "--output", tmp_path / "o", "--device", "cpu", "--backend", "onnx",
        "--detector-weights", detector_path, "--checkpoint", legacy_checkpoint_path,
    )
    assert proc.returncode == 2 and "tools/export.py" in proc.stderr.strip().splitlines()[-1]


def test_eval_with_onnx_backend_matches_torch(tmp_path, capsys, onnx_files, legacy_checkpoint_path):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(2):
        write_image(images / f"{index}.png", 240, 200, seed=index)
    rows = [
        ("0.png", 20, "F", 60, 20, 120, 90, 10, 10, 190, 235),
        ("1.png", 45, "M", 20, 20, 70, 80, 0, 0, 110, 230),
    ]
    annotations = write_csv(tmp_path / "annotations" / "bench_test.csv", PERSON_HEADER, rows).parent
    code_t, torch_results, err_t = run_eval(capsys, *dataset_args(images, annotations, "lagenda", legacy_checkpoint_path), "--with-persons")
    code_o, onnx_results, err_o = run_eval(
        capsys, *dataset_args(images, annotations, "lagenda", onnx_files[0]), "--with-persons", "--backend", "onnx"
    )
    assert code_t == 0, err_t
    assert code_o == 0, err_o
    assert onnx_results["mae"] == pytest.approx(torch_results["mae"], abs=1e-3)
    assert onnx_results["gender_accuracy"] == torch_results["gender_accuracy"]
    assert onnx_results["parameters"] == torch_results["parameters"]
