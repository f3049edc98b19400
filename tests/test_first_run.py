"""The first minutes of a new user: argument mistakes and missing weights answered at once, in one
line, before anything slow; flags that apply only to videos said so on images; image runs honour
--no-progress and --save-crops."""

import json
import socket
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
from test_demo_images import run_demo

from mivolo.model.weights import DEFAULT_DETECTOR, DEFAULT_MIVOLO

ROOT = Path(__file__).resolve().parents[1]


def demo_in_process(*args):
    """demo.main in a fresh interpreter: its exit code, stderr, and whether torch was imported."""
    code = (
        "import sys; from mivolo.cli.demo import main; "
        f"code = main({[str(a) for a in args]!r}); print(code, 'torch' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=300)
    exit_code, torch_loaded = proc.stdout.split()[-2:]
    return int(exit_code), proc.stderr, torch_loaded == "True"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--disable-faces"], "add --with-persons to use --disable-faces"),
        (["--skip-frames", "-1"], "--skip-frames must be at least 0"),
        (["--aggregation", "temporal", "--confidence-based"], "contradicts"),
        (["--min-gender-conf", "1.5"], "--min-gender-conf must be between 0 and 1"),
        (["--tracker", "nope.yaml"], "tracker config not found"),
        (["--reid-merge"], "--reid-merge needs a Re-ID model"),
    ],
)
def test_argument_mistakes_are_one_line_before_any_model_is_loaded(tmp_path, flags, message):
    video = tmp_path / "walk.avi"
    video.write_bytes(b"not read: the arguments fail first")
    code, stderr, torch_loaded = demo_in_process("--input", video, "--output", tmp_path / "out", *flags)
    assert code == 2 and message in stderr and len(stderr.strip().splitlines()) == 1
    assert not torch_loaded  # nothing heavy was imported, let alone loaded
    assert not (tmp_path / "out").exists()  # and nothing was written


def _image(folder: Path) -> Path:
    path = folder / "p.jpg"
    cv2.imwrite(str(path), np.zeros((32, 32, 3), np.uint8))
    return path


def test_offline_without_the_default_weights_names_both_files_the_flags_and_the_cache_variable(tmp_path):
    proc = run_demo(
        "--input", _image(tmp_path), "--output", tmp_path / "out", "--device", "cpu",
        env={"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    line = proc.stderr.strip()
    for weights in (DEFAULT_DETECTOR, DEFAULT_MIVOLO):
        assert all(f"{weights.repo_id}/{name}" in line for name in weights.filenames)
        assert weights.flag in line
    assert "HF_HUB_OFFLINE=1" in line and not (tmp_path / "out").exists()


def test_an_unreachable_hub_is_one_line_without_retries(tmp_path):
    with socket.socket() as probe:  # a port nobody listens on: connections are refused at once
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = run_demo(
        "--input", _image(tmp_path), "--output", tmp_path / "out", "--device", "cpu",
        env={"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": f"http://127.0.0.1:{port}"},
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and "cannot be reached" in proc.stderr
    assert "Retrying" not in proc.stderr


def test_only_the_missing_default_is_named(tmp_path, detector_path):
    proc = run_demo(
        "--input", _image(tmp_path), "--output", tmp_path / "out", "--device", "cpu", "--detector-weights", detector_path,
        env={"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"},
    )  # fmt: skip
    assert proc.returncode == 2
    assert DEFAULT_MIVOLO.repo_id in proc.stderr and DEFAULT_DETECTOR.repo_id not in proc.stderr


def models(detector_path, checkpoint):
    return ["--detector-weights", detector_path, "--checkpoint", checkpoint, "--device", "cpu", "--detector-imgsz", "64"]


@pytest.fixture(scope="module")
def two_images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("two")
    rng = np.random.RandomState(0)
    for name in ("a.jpg", "b.jpg"):
        cv2.imwrite(str(folder / name), rng.randint(0, 255, (120, 160, 3), dtype=np.uint8))
    return folder


def test_image_runs_honour_no_progress_save_crops_and_note_video_only_flags(
    tmp_path, two_images, detector_path, legacy_checkpoint_path
):
    out = tmp_path / "out"
    proc = run_demo("--input", two_images, "--output", out, "--save-crops", "--no-progress", "--skip-frames", "2",
                    *models(detector_path, legacy_checkpoint_path))  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "img/s" not in proc.stderr and "it/s" not in proc.stderr  # no progress bar
    assert proc.stderr.count("--skip-frames apply to videos") == 1
    report = json.loads((out / "images.json").read_text())
    crops = [person["crop"] for image in report["images"] for person in image["people"]]
    assert crops and all((out / crop).is_file() for crop in crops)
    assert sorted(Path(crop).name for crop in crops)[0].startswith("a_0")


def test_compile_is_refused_on_a_cpu(tmp_path, detector_path, legacy_checkpoint_path):
    from mivolo.devtools.synthetic import write_figure_video

    video = write_figure_video(tmp_path / "walk.avi", frames=2, size=(160, 120))
    proc = run_demo("--input", video, "--output", tmp_path / "out", "--compile", *models(detector_path, legacy_checkpoint_path))
    assert proc.returncode == 2 and "--compile needs a GPU" in proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1
