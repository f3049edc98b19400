"""tools/prepare_utk.py and tools/prepare_faces_csv.py on generated files, read back."""

import csv
import importlib.util
from pathlib import Path

import cv2
import numpy as np
import pytest

from mivolo.evaluation.dataset import CropSettings, load_split
from mivolo.evaluation.metrics import ADIENCE_BINS
from mivolo.devtools.synthetic import write_detector

ROOT = Path(__file__).resolve().parents[1]


def load_tool(name):
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


prepare_utk = load_tool("prepare_utk")
prepare_faces_csv = load_tool("prepare_faces_csv")


def write_face(path, height, width):
    path.parent.mkdir(parents=True, exist_ok=True)
    image = np.full((height, width, 3), 90, dtype=np.uint8)
    cv2.ellipse(image, (width // 2, height // 2), (width // 3, height // 3), 0, 0, 360, (150, 180, 220), -1)
    assert cv2.imwrite(str(path), image)


def read_rows(path):
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_prepare_utk_parses_names_and_counts_skips(tmp_path, capsys):
    images = tmp_path / "UTKFace"
    write_face(images / "25_0_2_20170116174525125.jpg", 60, 50)
    write_face(images / "part2" / "31_1_0_20170117120000000.jpg.chip.jpg", 40, 30)
    write_face(images / "landscape.jpg", 40, 40)
    write_face(images / "40_3_1_20170116174525125.jpg", 40, 40)
    (images / "50_1_2_20170116174525125.jpg").write_bytes(b"truncated download")
    output = tmp_path / "annotation" / "utk_test.csv"

    assert prepare_utk.main(["--images", str(images), "--output", str(output), "--no-progress"]) == 0

    rows = read_rows(output)
    assert list(rows[0]) == ["img_name", "age", "gender", "face_x0", "face_y0", "face_x1", "face_y1"]
    assert [tuple(row.values()) for row in rows] == [
        ("25_0_2_20170116174525125.jpg", "25", "M", "0", "0", "50", "60"),
        ("part2/31_1_0_20170117120000000.jpg.chip.jpg", "31", "F", "0", "0", "30", "40"),
    ]
    printed = capsys.readouterr().out
    assert f"wrote 2 rows to {output}; skipped 3" in printed
    assert "skipped 1: name is not age_gender_race_date.jpg (e.g. landscape.jpg)" in printed
    assert "skipped 1: gender code 3 is not 0 (male) or 1 (female)" in printed
    assert "skipped 1: image cannot be decoded" in printed

    # the file is what eval_pretrained.py reads
    settings = CropSettings(use_faces=True, use_persons=False, only_age=False)
    samples, _ = load_split(images, output, ["test"], None, settings, progress=False)
    assert [(s.age_label, s.gender_label, s.face_box) for s in samples] == [
        (25, 0, (0, 0, 50, 60)),
        (31, 1, (0, 0, 30, 40)),
    ]


def test_prepare_utk_refines_the_face_box_with_the_detector(tmp_path, capsys):
    # a rigged YOLOv8n: every stride-16 cell proposes a face 2 strides to each side (64 px at 640)
    detector = write_detector(tmp_path / "faces.pt", face_extent=2)
    images = tmp_path / "UTKFace"
    write_face(images / "42_1_3_20170116174525125.jpg", 320, 320)
    output = tmp_path / "utk_test.csv"

    args = [
        "--images",
        str(images),
        "--output",
        str(output),
        "--detector",
        str(detector),
        "--device",
        "cpu",
        "--no-progress",
    ]
    assert prepare_utk.main(args) == 0

    (row,) = read_rows(output)
    x0, y0, x1, y1 = (int(row[name]) for name in ("face_x0", "face_y0", "face_x1", "face_y1"))
    assert 0 <= x0 < x1 <= 320 and 0 <= y0 < y1 <= 320
    assert (x1 - x0) * (y1 - y0) < 320 * 320 // 4  # a detected face, not the whole image
    assert "wrote 1 rows" in capsys.readouterr().out


def test_prepare_faces_csv_converts_labels_and_counts_skips(tmp_path, capsys):
    images = tmp_path / "faces"
    write_face(images / "a.jpg", 50, 40)
    write_face(images / "sub" / "b.png", 30, 30)
    write_face(images / "c.jpg", 20, 20)
    write_face(images / "d.jpg", 20, 20)
    (images / "e.jpg").write_bytes(b"")
    labels = tmp_path / "labels.csv"
    labels.write_text(
        "path,age,gender,notes\n"
        "a.jpg,25,male,first\n"
        "sub/b.png,25;32,F,second\n"
        "missing.jpg,30,M,\n"
        "c.jpg,abc,M,\n"
        "d.jpg,30,unknown-word,\n"
        "e.jpg,30,0,\n"
        "a.jpg,-1,-1,\n"
    )
    output = tmp_path / "annotation" / "faces_test.csv"

    args = ["--images", str(images), "--labels", str(labels), "--output", str(output), "--no-progress"]
    assert prepare_faces_csv.main(args) == 0

    assert [tuple(row.values()) for row in read_rows(output)] == [
        ("a.jpg", "25", "M", "0", "0", "40", "50"),
        ("sub/b.png", "25;32", "F", "0", "0", "30", "30"),
        ("a.jpg", "-1", "-1", "0", "0", "40", "50"),
    ]
    printed = capsys.readouterr().out
    assert f"wrote 3 rows to {output}; skipped 4" in printed
    assert f"skipped 1: image not found (e.g. {labels}:4)" in printed
    assert f"skipped 1: age is not a number, an age class a;b or -1 (e.g. {labels}:5)" in printed
    assert f"skipped 1: gender is not M/F/male/female/0/1/-1 (e.g. {labels}:6)" in printed
    assert "skipped 1: image cannot be decoded" in printed

    settings = CropSettings(use_faces=True, use_persons=False, only_age=False)
    samples, report = load_split(images, output, ["test"], ADIENCE_BINS, settings, progress=False, skip_bad=True)
    # "25" is not an Adience class: that row is bad for adience, "25;32" is class 4
    assert [(s.age_label, s.gender_label) for s in samples] == [(4, 1)]
    assert len(report.bad_rows) == 1 and "age '25' is not one of the adience age classes" in str(report.bad_rows[0])


@pytest.mark.parametrize(
    "tool, args, message",
    [
        (prepare_faces_csv, ["--labels", "LABELS"], "LABELS:1: missing columns gender"),
        (prepare_utk, [], "images folder not found"),
    ],
)
def test_tools_stop_with_exit_2_on_bad_input(tmp_path, capsys, tool, args, message):
    labels = tmp_path / "labels.csv"
    labels.write_text("path,age\na.jpg,20\n")
    images = tmp_path / ("faces" if tool is prepare_faces_csv else "missing")
    if tool is prepare_faces_csv:
        images.mkdir()
    args = [str(labels) if arg == "LABELS" else arg for arg in args]
    output = tmp_path / "out.csv"
    assert tool.main(["--images", str(images), "--output", str(output), "--no-progress", *args]) == 2
    assert message.replace("LABELS", str(labels)) in capsys.readouterr().err
    assert not output.exists()
