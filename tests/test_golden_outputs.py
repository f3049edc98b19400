"""Golden outputs: fixed runs of demo.py on generated media and synthetic models, compared with
what they wrote when the golden files were recorded.

This guards structural changes: a refactor must change no output. Every JSON, MOT file and
summary must be identical apart from timing fields and temporary paths, the annotated video
identical frame for frame (SHA-256 of each decoded frame), and crops and annotated images
identical in their pixels. When a change of behaviour is intended, record the files again:

    MIVOLO_UPDATE_GOLDEN=1 python -m pytest tests/test_golden_outputs.py

and say in the commit what changed and why.

The annotated images and videos (out_*) are drawn by OpenCV, whose text rasteriser changes
between releases (5.1 draws other label pixels than 5.0), so their pixels are recorded per
OpenCV minor version that requirements.txt allows; every other output has one recording. When
the outputs change, the update drops the other versions' drawings: record again under each
allowed OpenCV (pip install "opencv-python==5.0.*", then 5.1, ...).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import cv2
import pytest

from mivolo.cli import demo
from mivolo.devtools import scripted
import torch

from mivolo.model.checkpoint import save_legacy_checkpoint
from mivolo.devtools.scripted import scripted_boxes
from mivolo.model.preprocessing import normalize_crop
from mivolo.devtools.reid_synthetic import write_public_weights
from mivolo.devtools.synthetic import figure_frame, random_mivolo, write_figure_video

GOLDEN_DIR = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("MIVOLO_UPDATE_GOLDEN") == "1"
SIZE = (320, 240)
DETECTOR_IMGSZ = 64  # the detector's forward pass runs; its boxes are replaced by scripted people
SCRIPTED_PEOPLE = 3  # walking people with faces (mivolo.devtools.scripted): distinct crops, ages, IDs
FRAMES = 5


def scene_inputs() -> torch.Tensor:
    """MiVOLO inputs like the golden video's: each scripted person's face and body crop, per frame."""
    rows = []
    for index in range(FRAMES):
        image = figure_frame(index, SIZE, figures=3)
        boxes = scripted_boxes(index, *SIZE, SCRIPTED_PEOPLE).astype(int)
        for body, face in zip(boxes[0::2], boxes[1::2]):
            crops = [image[y1:y2, x1:x2] for x1, y1, x2, y2 in (face, body)]
            rows.append(torch.cat([torch.from_numpy(normalize_crop(crop, 224)) for crop in crops]))
    return torch.stack(rows)
TIMING_FIELDS = ("seconds", "fps", "stage_ms_per_frame", "peak_rss_mib", "peak_gpu_mib")

VIDEO_CASES = {
    "video_default": ["--draw", "--save-json", "--save-crops", "--crop-every", "2"],
    "video_confidence": ["--confidence-based", "--draw", "--save-json"],
    "video_temporal": ["--temporal-smoothing", "--smoothing-window", "3", "--draw", "--save-json"],
    "video_global": ["--global-smoothing", "--draw", "--save-json"],
    "video_skip_frames": ["--skip-frames", "1", "--draw", "--save-json"],
    "video_batched": ["--batch", "3", "--draw", "--save-json"],
    "video_bytetrack": ["--tracker", "bytetrack.yaml", "--save-json"],
    "video_reid_merge": ["--reid", "{osnet}", "--reid-merge", "0.5", "--save-json"],
    "video_onnx": ["--backend", "onnx", "--draw", "--save-json"],
    "video_openvino": ["--backend", "openvino", "--draw", "--save-json"],
}


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("golden_media")
    images = folder / "images"
    images.mkdir()
    for index in (0, 5):
        cv2.imwrite(str(images / f"scene_{index}.png"), figure_frame(index, SIZE, figures=3))
    video = write_figure_video(folder / "walk.avi", frames=FRAMES, size=SIZE, fps=10.0, figures=3)
    osnet = write_public_weights("osnet_x0_25", folder / "osnet_x0_25_random.pth", seed=3)
    # heads wide enough that ages and genders differ between people and frames
    model, meta = random_mivolo(seed=7, spread=0.1, centre_on=scene_inputs())
    checkpoint = save_legacy_checkpoint(folder / "mivolo_spread.pth.tar", model, meta)
    return {"images": images, "video": video, "osnet": osnet, "checkpoint": checkpoint}


@pytest.fixture(scope="module")
def models(media, detector_path, exported_models):
    """(detector, MiVOLO) per backend: the spread checkpoint, exported for ONNX and OpenVINO."""
    from mivolo.model.export import export_mivolo

    exported = export_mivolo(media["checkpoint"], media["checkpoint"].parent, formats=("onnx", "openvino"))
    found = {item.format: item.path for item in exported}
    return {
        "torch": (detector_path, media["checkpoint"]),
        **{backend: (exported_models[backend]["detector"], found[backend]) for backend in ("onnx", "openvino")},
    }


def _run(args, people: int = None) -> None:
    args = [str(a) for a in args]
    code = demo.main(args) if people is None else scripted.main(["--people", str(people), *args])
    assert code == 0


def _without_timing(document):
    if isinstance(document, dict):
        run = document.get("run", document.get("summary", {}))
        for field in TIMING_FIELDS:
            run.pop(field, None)
    return document


def _normalised(value, root: Path):
    """Temporary and installation paths replaced by their file names, so that runs compare."""
    if isinstance(value, dict):
        return {key: _normalised(item, root) for key, item in value.items()}
    if isinstance(value, list):
        return [_normalised(item, root) for item in value]
    if isinstance(value, str) and os.sep in value and (value.startswith(str(root)) or os.path.isabs(value)):
        return Path(value).name
    return value


def _pixels_digest(image) -> str:
    return hashlib.sha256(image.tobytes()).hexdigest()


def _video_frames(path: Path):
    capture = cv2.VideoCapture(str(path))
    digests = []
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        digests.append(_pixels_digest(frame))
    capture.release()
    return digests


def collect(out: Path, root: Path) -> dict:
    """Everything the run wrote, in comparable form."""
    found = {}
    for path in sorted(p for p in out.rglob("*") if p.is_file()):
        name = path.relative_to(out).as_posix()
        if path.suffix == ".json":
            found[name] = _normalised(_without_timing(json.loads(path.read_text())), root)
        elif path.suffix == ".txt":
            found[name] = path.read_text().splitlines()
        elif path.suffix == ".avi":
            found[name] = {"frames": _video_frames(path)}
        elif path.suffix in (".jpg", ".png"):
            found[name] = {"pixels": _pixels_digest(cv2.imread(str(path)))}
        else:
            found[name] = {"bytes": hashlib.sha256(path.read_bytes()).hexdigest()}
    return found


DRAWN_PREFIX = "out_"  # annotated images and videos
OPENCV_MINOR = ".".join(cv2.__version__.split(".")[:2])


def check_against_golden(case: str, found: dict) -> None:
    golden = GOLDEN_DIR / f"{case}.json"
    drawn = {name: value for name, value in found.items() if name.startswith(DRAWN_PREFIX)}
    outputs = {name: value for name, value in found.items() if name not in drawn}
    recorded = json.loads(golden.read_text()) if golden.is_file() else None
    if UPDATE:
        same = recorded is not None and recorded["outputs"] == outputs
        drawings = dict(recorded["drawn_by_opencv"]) if same else {}
        if drawn:
            drawings[OPENCV_MINOR] = drawn
        GOLDEN_DIR.mkdir(exist_ok=True)
        document = {"outputs": outputs, "drawn_by_opencv": drawings}
        golden.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        return
    assert recorded is not None, f"no golden file for {case}: record it with MIVOLO_UPDATE_GOLDEN=1"
    assert sorted(outputs) == sorted(recorded["outputs"]), "the run wrote other files than when recorded"
    for name, expected in recorded["outputs"].items():
        assert found[name] == expected, f"{case}: {name} differs from the golden output"
    drawings = recorded["drawn_by_opencv"]
    if not drawn and not drawings:
        return
    assert OPENCV_MINOR in drawings, (
        f"{case}: the drawings were recorded with OpenCV {', '.join(sorted(drawings))}, not {OPENCV_MINOR}: "
        "check them by eye and record them with MIVOLO_UPDATE_GOLDEN=1, or keep requirements.txt to the recorded versions"
    )
    assert sorted(drawn) == sorted(drawings[OPENCV_MINOR]), "the run drew other files than when recorded"
    for name, expected in drawings[OPENCV_MINOR].items():
        assert drawn[name] == expected, f"{case}: {name} differs from the golden drawing (OpenCV {OPENCV_MINOR})"


def test_image_folder_outputs_are_unchanged(tmp_path, media, models):
    detector, checkpoint = models["torch"]
    out = tmp_path / "out"
    _run(["--input", media["images"], "--output", out, "--draw", "--with-persons", "--device", "cpu",
          "--detector-weights", detector, "--checkpoint", checkpoint,
          "--detector-imgsz", DETECTOR_IMGSZ])  # fmt: skip
    check_against_golden("images", collect(out, tmp_path))


@pytest.mark.parametrize("case", sorted(VIDEO_CASES))
def test_video_outputs_are_unchanged(case, tmp_path, media, models):
    backend = case.rsplit("_", 1)[-1]
    detector, checkpoint = models[backend if backend in models else "torch"]
    flags = [flag.format(osnet=media["osnet"]) for flag in VIDEO_CASES[case]]
    out = tmp_path / "out"
    _run(["--input", media["video"], "--output", out, "--with-persons", "--device", "cpu", "--no-progress",
          "--detector-weights", detector, "--checkpoint", checkpoint, "--detector-imgsz", DETECTOR_IMGSZ, *flags],
         people=SCRIPTED_PEOPLE)  # fmt: skip
    check_against_golden(case, collect(out, tmp_path))
