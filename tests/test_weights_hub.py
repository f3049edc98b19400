"""Default weights come from the Hugging Face cache through the real huggingface_hub code, offline."""

import json
import shutil

from test_demo_images import run_demo

from mivolo.model.weights import DEFAULT_DETECTOR, DEFAULT_MIVOLO

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _populate(cache, repo_id, files):
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    snapshot = repo / "snapshots" / COMMIT
    snapshot.mkdir(parents=True)
    for name, source in files.items():
        shutil.copy(source, snapshot / name)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


def test_defaults_resolve_from_a_prepopulated_cache(tmp_path, detector_path, hf_checkpoint_dir):
    cache = tmp_path / "hub"
    _populate(cache, DEFAULT_DETECTOR.repo_id, {DEFAULT_DETECTOR.filenames[0]: detector_path})
    _populate(cache, DEFAULT_MIVOLO.repo_id, {name: hf_checkpoint_dir / name for name in DEFAULT_MIVOLO.filenames})
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "p.jpg"), np.random.RandomState(1).randint(0, 255, (240, 320, 3), dtype=np.uint8))
    proc = run_demo(
        "--input", tmp_path / "p.jpg", "--output", tmp_path / "out", "--device", "cpu", "--detector-imgsz", "160",
        env={"HF_HUB_CACHE": str(cache), "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    people = json.loads((tmp_path / "out" / "images.json").read_text())["images"][0]["people"]
    assert people and any(p["age"] is not None for p in people)


def test_offline_without_cache_names_files_and_flags(tmp_path):
    proc = run_demo(
        "--input", tmp_path, "--output", tmp_path / "out", "--device", "cpu",
        env={"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"},
    )
    # no images in an empty folder is reported before any download is attempted
    assert proc.returncode == 2 and "no images or videos found" in proc.stderr
    import cv2
    import numpy as np

    cv2.imwrite(str(tmp_path / "p.jpg"), np.zeros((32, 32, 3), np.uint8))
    proc = run_demo(
        "--input", tmp_path / "p.jpg", "--output", tmp_path / "out", "--device", "cpu",
        env={"HF_HUB_CACHE": str(tmp_path / "empty"), "HF_HUB_OFFLINE": "1"},
    )
    assert proc.returncode == 2, proc.stderr
    message = proc.stderr.strip().splitlines()[-1]
    assert "iitolstykh/YOLO-Face-Person-Detector/yolov8x_person_face.pt" in message
    assert "--detector-weights" in message and "Traceback" not in proc.stderr
