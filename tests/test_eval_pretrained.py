"""eval_pretrained.py end to end on generated datasets, with a checkpoint whose output is known.

The checkpoint has every weight zero and head biases set, so MiVOLO's output is
head.bias + 0.5 * aux_head.bias for any input: every prediction is age 32.5, female. With
min_age 0 / max_age 128 the evaluation de-normalises with avg (0 + 128) / 2 = 64, not the
checkpoint's avg_age of 50, so a wrong scale would show in every figure.
"""

import csv
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from mivolo.cli import eval as eval_pretrained  # eval_pretrained.py's command line
from mivolo.core.errors import MiVOLOError
from mivolo.evaluation import runner
from mivolo.evaluation.dataset import CropSettings, EvalDataset, load_split
from mivolo.model.checkpoint import CheckpointMeta, save_legacy_checkpoint
from mivolo.model.mivolo_model import create_mivolo
from mivolo.model.preprocessing import class_letterbox

ROOT = Path(__file__).resolve().parents[1]
PREDICTED_AGE = 32.5
HEADER = "img_name,age,gender,face_x0,face_y0,face_x1,face_y1"
PERSON_HEADER = HEADER + ",person_x0,person_y0,person_x1,person_y1"




@pytest.fixture(scope="module")
def constant_checkpoint(tmp_path_factory):
    model = create_mivolo(224, 6, 3).eval()
    normalized_age = (PREDICTED_AGE - 64.0) / 128.0  # -0.24609375, exact in float32
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        # logits male 0, female 1; the aux head adds 0.5 * its bias: 0.5 * [0, 0.5, 0] keeps female
        model.head.bias.copy_(torch.tensor([0.0, 0.75, normalized_age]))
        model.aux_head.bias.copy_(torch.tensor([0.0, 0.5, 0.0]))
    meta = CheckpointMeta(
        min_age=0.0, max_age=128.0, avg_age=50.0, no_gender=False, with_persons_model=True, input_size=224
    )
    return save_legacy_checkpoint(tmp_path_factory.mktemp("constant") / "constant.pth.tar", model, meta)


def write_image(path, height, width, seed=0):
    """A lossless PNG with no zero byte, so blanked regions are recognisable."""
    rng = np.random.default_rng(seed)
    image = rng.integers(1, 256, (height, width, 3), dtype=np.uint8)
    assert cv2.imwrite(str(path), image)
    return image


def write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header] + [",".join(str(v) for v in row) for row in rows]) + "\n")
    return path


def run_eval(capsys, *args):
    # warm-up is exercised once (regression test); elsewhere it would only double the CPU time
    code = eval_pretrained.main(["--device", "cpu", "--warmup-steps", "0", "--no-progress", "--workers", "0", *args])
    captured = capsys.readouterr()
    results = None
    if code == 0:
        results = json.loads(captured.out.split("--result\n", 1)[1])
    return code, results, captured.err


def dataset_args(images, annotations, name, checkpoint, split="test"):
    return [
        "--dataset_images", str(images), "--dataset_annotations", str(annotations),
        "--dataset_name", name, "--split", split, "--checkpoint", str(checkpoint),
    ]  # fmt: skip


def test_regression_benchmark_by_hand(constant_checkpoint, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    for index in range(3):
        write_image(images / f"{index}.png", 240, 200, seed=index)
    rows = [
        ("0.png", 20, "F", 60, 20, 120, 90, 10, 10, 190, 235),
        ("0.png", -1, -1, 130, 30, 170, 80, -1, -1, -1, -1),  # no labels: only masked out of the body
        ("1.png", 30, "M", 20, 20, 70, 80, 0, 0, 110, 230),
        ("1.png", 40, "F", 120, 20, 170, 80, 90, 0, 200, 230),
        ("2.png", -1, "F", 60, 20, 120, 90, 10, 10, 190, 235),  # gender only
        ("2.png", 60, -1, 20, 100, 60, 150, -1, -1, -1, -1),  # age only
    ]
    annotations = write_csv(tmp_path / "annotations" / "bench_test.csv", PERSON_HEADER, rows).parent
    write_csv(annotations / "bench_train.csv", PERSON_HEADER, [("0.png", 99, "M", 0, 0, 50, 50, -1, -1, -1, -1)])
    results_file = tmp_path / "out" / "results.json"
    hist_file = tmp_path / "out" / "age_error.png"
    code, results, err = run_eval(
        capsys,
        *dataset_args(images, annotations, "lagenda", constant_checkpoint),
        "--with-persons", "--batch-size", "2", "--workers", "1", "--warmup-steps", "1",
        "--results-file", str(results_file), "--results-format", "json", "--draw-hist", "--hist-file", str(hist_file),
    )  # fmt: skip
    assert code == 0, err
    # ages 20, 30, 40, 60 against 32.5: errors 12.5, 2.5, 7.5, 27.5
    assert results["agetop1"] == results["mae"] == 12.5
    assert results["agetop1_err"] == 87.5
    assert results["csl"] == results["cs_at_l"] == 0.25
    assert results["max_error"] == results["ce_at_20"] == 0.25
    # genders F, M, F, F (the -1 is ignored) against female: 3 of 4
    assert results["gendertop1"] == results["gender_accuracy"] == 75.0
    assert results["gendertop1_err"] == 25.0
    assert results["per_age_mae"] == {"20": 12.5, "30": 2.5, "40": 7.5, "60": 27.5}
    assert results["per_age_error"] == {"20": [12.5], "30": [2.5], "40": [7.5], "60": [27.5]}
    assert (results["samples"], results["age_samples"], results["gender_samples"]) == (5, 4, 4)
    assert (results["img_size"], results["in_chans"], results["batch"], results["use_persons"]) == (224, 6, 2, True)
    assert results["param_count"] == 27.43 and results["parameters"] == 27_432_414
    assert results["mean_inference_time"] > 0 and results["mean_preprocessing_time"] >= 0
    assert json.loads(results_file.read_text()) == results
    plot = cv2.imread(str(hist_file))
    assert plot is not None and plot.shape[1] > 600
    assert "1 no labels" in err


@pytest.mark.parametrize(
    "name, rows, age_accuracy",
    [
        # 32.5 rounds (half to even) to 32: FairFace "30;39", Adience "25;32"
        ("fairface", [("30;39", "M"), ("20;29", "F"), ("-1", "F")], 50.0),
        ("adience", [("25;32", "F"), ("38;43", "F"), ("60;100", "M")], 33.3333),
    ],
)
def test_age_class_benchmarks_by_hand(constant_checkpoint, tmp_path, capsys, name, rows, age_accuracy):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "face.png", 64, 48)
    csv_rows = [("face.png", age, gender, 0, 0, 48, 64) for age, gender in rows]
    annotations = write_csv(tmp_path / "annotations" / f"{name}_test.csv", HEADER, csv_rows).parent
    results_file = tmp_path / "results.csv"
    code, results, err = run_eval(
        capsys, *dataset_args(images, annotations, name, constant_checkpoint), "--results-file", str(results_file)
    )
    assert code == 0, err
    assert results["agetop1"] == pytest.approx(age_accuracy, abs=1e-4)  # rounded to 4 decimals, as published
    assert results["age_class_accuracy"] == pytest.approx(age_accuracy, abs=1e-4)
    assert results["gendertop1"] == pytest.approx(66.6667)  # one male and two female labels, all predicted female
    assert "csl" not in results and "mae" not in results
    with open(results_file, newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["agetop1"]) == pytest.approx(age_accuracy, abs=1e-4)
    assert float(row["gendertop1"]) == pytest.approx(66.6667)
    assert row["dataset_name"] == name and int(row["samples"]) == 3


def test_face_only_age_only_checkpoint(tmp_path, capsys):
    """A 3-channel volo_d1 with one output (no_gender): age figures only."""
    model = create_mivolo(224, 3, 1).eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.head.bias.fill_(-0.5)  # 1 + (95 - 1) / 2 - 0.5 * 94 = 1 year
    meta = CheckpointMeta(
        min_age=1.0, max_age=95.0, avg_age=48.0, no_gender=True, with_persons_model=False, input_size=224
    )
    checkpoint = save_legacy_checkpoint(tmp_path / "face_only.pth.tar", model, meta)
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "face.png", 64, 48)
    # the gender-only row is not evaluated by an age-only model
    rows = [("face.png", 7, "M", 0, 0, 48, 64), ("face.png", 31, -1, 0, 0, 48, 64), ("face.png", -1, "F", 0, 0, 48, 64)]
    annotations = write_csv(tmp_path / "annotations" / "utk_test.csv", HEADER, rows).parent
    code, results, err = run_eval(capsys, *dataset_args(images, annotations, "utk", checkpoint), "--l-for-cs", "6")
    assert code == 0, err
    assert (results["mae"], results["cs_at_l"], results["ce_at_20"]) == (18.0, 0.5, 0.5)  # errors 6 and 30
    assert (results["in_chans"], results["samples"], results["use_persons"]) == (3, 2, False)
    assert "gendertop1" not in results and "gender_accuracy" not in results


def test_eval_crops_follow_the_published_evaluation_path(tmp_path):
    """Boxes clamp to [0, W]; own face and overlapping boxes are blanked; unusable crops are black."""
    image = write_image(tmp_path / "scene.png", 224, 300)
    rows = [
        # body 76..300 x 0..224: exactly 224 x 224 once clamped to the image edge (not W - 1)
        ("scene.png", 30, "M", 100, 20, 150, 80, 76, 0, 300, 224),
        # another person's face reaching past the image, overlapping the body above
        ("scene.png", -1, -1, 280, 200, 310, 230, -1, -1, -1, -1),
        # a face whose body (x 60..200) is mostly covered by the first body: under 40% left, so black
        ("scene.png", 50, "F", 62, 10, 74, 50, 60, 0, 200, 224),
    ]
    write_csv(tmp_path / "ann" / "scene_test.csv", PERSON_HEADER, rows)
    settings = CropSettings(use_faces=True, use_persons=True, only_age=False)
    samples, report = load_split(tmp_path, tmp_path / "ann", ["test"], None, settings, progress=False)
    dataset = EvalDataset(samples, 224, with_body_channels=True)
    assert len(dataset) == 2 and report.not_evaluated["no labels (still masked out of other bodies)"] == 1

    first = dataset[0]
    assert (first.age, first.gender) == (30, 0) and first.image.dtype == torch.uint8
    expected_body = image[:, 76:300].copy()
    expected_body[20:80, 24:74] = 0  # own face (x 100..150, y 20..80)
    expected_body[200:224, 204:224] = 0  # the other face, clamped to the image
    expected_body[:, 0:124] = 0  # the second body (x 60..200) overlaps too: 43.7% of the crop is left
    assert torch.equal(first.image[3:], torch.from_numpy(expected_body[:, :, ::-1].transpose(2, 0, 1).copy()))
    expected_face = class_letterbox(image[20:80, 100:150], 224)[:, :, ::-1].transpose(2, 0, 1)
    assert torch.equal(first.image[:3], torch.from_numpy(expected_face.copy()))

    second = dataset[1]
    assert int(second.image[3:].count_nonzero()) == 0  # body masked out -> black 224 x 224
    assert int(second.image[:3].count_nonzero()) > 0


def test_body_masking_choice_and_size_limits(tmp_path):
    write_image(tmp_path / "big.png", 520, 520)
    rows = [
        ("big.png", 40, "M", 497, 100, 503, 106, 0, 0, 500, 500),  # own face: IoU 18 / 250018 < 1e-4, masked anyway
        ("big.png", -1, -1, 100, 100, 105, 105, -1, -1, -1, -1),  # 5 px face inside: IoU exactly 1e-4 -> masked
        ("big.png", -1, -1, 495, 495, 520, 520, -1, -1, -1, -1),  # IoU 25 / 250600 < 1e-4 -> not masked
        ("big.png", -1, -1, 300, 300, 304, 305, -1, -1, -1, -1),  # 4 px wide face: dropped, not masked
        ("big.png", -1, -1, -1, -1, -1, -1, 300, 300, 399, 450),  # 99 px wide body: dropped, not masked
        ("big.png", 20, "F", 300, 300, 304, 305, -1, -1, -1, -1),  # labelled 4 px face: not evaluated
    ]
    write_csv(tmp_path / "ann" / "big_test.csv", PERSON_HEADER, rows)
    settings = CropSettings(use_faces=True, use_persons=True, only_age=False)
    samples, report = load_split(tmp_path, tmp_path / "ann", ["test"], None, settings, progress=False)
    (sample,) = samples
    assert sample.mask_boxes == ((497, 100, 503, 106), (100, 100, 105, 105))
    assert report.not_evaluated["face under 5 px (face ignored)"] == 1
    assert report.not_evaluated["no usable face or body box"] == 1


GOOD_ROW = ("a.png", 20, "M", 0, 0, 40, 40)
BAD_CASES = {
    # case: (header, rows, what the error says after the CSV path)
    "missing columns": (
        "img_name,age,face_x0,face_y0,face_x1,face_y1",
        [("a.png", 20, 0, 0, 40, 40)],
        ":1: missing columns gender",
    ),
    "malformed row": (HEADER, [GOOD_ROW, ("a.png", 20, "M", "abc", 0, 40, 40)], ":3: face box coordinate 'abc'"),
    "age not a number": (HEADER, [("a.png", "20;29", "M", 0, 0, 40, 40)], ":2: age '20;29' is not a number"),
    "missing image": (HEADER, [("nope.png", 20, "M", 0, 0, 40, 40)], ":2: image not found"),
    "undecodable image": (HEADER, [("broken.png", 20, "M", 0, 0, 40, 40)], ":2: cannot decode image"),
    "box outside the image": (
        HEADER,
        [("a.png", 20, "M", 500, 500, 600, 600)],
        ":2: face box [500, 500, 600, 600] lies outside the 48x64 image",
    ),
    "empty split": (HEADER, [("a.png", -1, -1, 0, 0, 40, 40)], ": empty split: no sample can be evaluated"),
}


@pytest.mark.parametrize("case", sorted(BAD_CASES))
def test_bad_input_is_named_by_file_and_line(constant_checkpoint, tmp_path, capsys, case):
    header, rows, message = BAD_CASES[case]
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 64, 48)
    (images / "broken.png").write_bytes(b"not an image at all")
    csv_path = write_csv(tmp_path / "annotations" / "set_test.csv", header, rows)
    results_file = tmp_path / "results.json"
    args = dataset_args(images, csv_path.parent, "utk", constant_checkpoint) + ["--results-file", str(results_file)]
    code, _, err = run_eval(capsys, *args)
    assert code == 2
    assert err.startswith("eval_pretrained.py: error: ") and err.count("\n") == 1
    assert f"{csv_path}{message}" in err
    assert not results_file.exists()


@pytest.mark.parametrize(
    "extra_args, message",
    [
        (["--split", "valid"], "empty split: no annotation CSV whose name contains 'valid' (found: set_test.csv)"),
        (["--with-persons"], "set_test.csv:1: --with-persons needs the columns person_x0"),
        (["--disable-faces"], "faces and persons cannot both be disabled"),
    ],
)
def test_bad_settings_stop_with_exit_2(constant_checkpoint, tmp_path, capsys, extra_args, message):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 64, 48)
    csv_path = write_csv(tmp_path / "annotations" / "set_test.csv", HEADER, [("a.png", 20, "M", 0, 0, 40, 40)])
    code, _, err = run_eval(capsys, *dataset_args(images, csv_path.parent, "utk", constant_checkpoint), *extra_args)
    assert code == 2 and message in err and err.count("\n") == 1


def test_skip_bad_carries_on_and_counts(constant_checkpoint, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 64, 48)
    (images / "broken.png").write_bytes(b"\x89PNG but truncated")
    rows = [
        ("a.png", 30, "F", 0, 0, 48, 64),
        ("a.png", 30, "F", 0, 0, "x", 64),
        ("gone.png", 30, "F", 0, 0, 48, 64),
        ("broken.png", 30, "F", 0, 0, 48, 64),
        ("a.png", 30, "F", 100, 100, 140, 140),
    ]
    csv_path = write_csv(tmp_path / "annotations" / "set_test.csv", HEADER, rows)
    code, results, err = run_eval(
        capsys, *dataset_args(images, csv_path.parent, "utk", constant_checkpoint), "--skip-bad"
    )
    assert code == 0, err
    assert results["skipped_bad_rows"] == 4 and results["samples"] == 1
    assert results["mae"] == 2.5
    for line in (3, 4, 5, 6):
        assert f"skipped bad row {csv_path}:{line}: " in err
    assert "Skipped 4 bad rows (--skip-bad)" in err


def test_command_line_error_is_one_line_without_traceback(constant_checkpoint, tmp_path):
    csv_path = write_csv(tmp_path / "annotations" / "set_test.csv", "img_name,age", [("a.png", 20)])
    result = subprocess.run(
        [sys.executable, str(ROOT / "eval_pretrained.py"), "--device", "cpu"]
        + dataset_args(tmp_path, csv_path.parent, "imdb", constant_checkpoint),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"eval_pretrained.py: error: {csv_path}:1: missing columns gender, face_x0")
    assert "Traceback" not in result.stderr and result.stdout == ""


def confinement_set(tmp_path):
    """images/ with a.png, and a valid image outside it that a row could reach."""
    images = tmp_path / "data" / "images"
    images.mkdir(parents=True)
    write_image(images / "a.png", 64, 48)
    outside = tmp_path / "data" / "secret.png"
    write_image(outside, 64, 48, seed=1)
    return images, outside


@pytest.mark.parametrize("kind", ["absolute", "dot-dot", "symlink"])
def test_img_name_outside_dataset_images_stops_the_run(constant_checkpoint, tmp_path, capsys, kind):
    images, outside = confinement_set(tmp_path)
    (images / "link.png").symlink_to(outside)
    image_name, message = {
        "absolute": (str(outside), f"img_name '{outside}' is an absolute path"),
        "dot-dot": ("../secret.png", f"img_name '../secret.png' resolves to {outside}, outside --dataset_images"),
        "symlink": ("link.png", f"img_name 'link.png' resolves to {outside}, outside --dataset_images"),
    }[kind]
    csv_path = write_csv(tmp_path / "ann" / "set_test.csv", HEADER, [(image_name, 30, "F", 0, 0, 48, 64)])
    code, _, err = run_eval(capsys, *dataset_args(images, csv_path.parent, "utk", constant_checkpoint))
    assert code == 2 and err.count("\n") == 1
    assert f"{csv_path}:2: {message}" in err


def test_skip_bad_leaves_out_rows_outside_dataset_images(constant_checkpoint, tmp_path, capsys):
    images, outside = confinement_set(tmp_path)
    (images / "out.png").symlink_to(outside)
    (images / "alias.png").symlink_to(images / "a.png")  # a symlink that stays inside is fine
    (images / "loop.png").symlink_to(images / "loop.png")
    (images / "sub").mkdir()
    rows = [
        ("a.png", 30, "F", 0, 0, 48, 64),
        (str(outside), 30, "F", 0, 0, 48, 64),
        ("../secret.png", 30, "F", 0, 0, 48, 64),
        ("out.png", 30, "F", 0, 0, 48, 64),
        ("loop.png", 30, "F", 0, 0, 48, 64),
        ("alias.png", 40, "F", 0, 0, 48, 64),
        ("sub/../a.png", 20, "F", 0, 0, 48, 64),  # `..` that stays inside is fine
    ]
    csv_path = write_csv(tmp_path / "ann" / "set_test.csv", HEADER, rows)
    args = dataset_args(images, csv_path.parent, "utk", constant_checkpoint)
    code, results, err = run_eval(capsys, *args, "--skip-bad")
    assert code == 0, err
    # ages 30, 40, 20 against 32.5
    assert (results["samples"], results["skipped_bad_rows"], results["mae"]) == (3, 4, 7.5)
    assert f"{csv_path}:3: img_name '{outside}' is an absolute path" in err
    assert f"{csv_path}:4: img_name '../secret.png' resolves to {outside}" in err
    assert f"{csv_path}:5: img_name 'out.png' resolves to {outside}" in err
    assert f"{csv_path}:6: image not found: {images / 'loop.png'}" in err


def unreadable_lines_set(tmp_path):
    """header, good row, a 200000-character field, a 0xff byte, good row (lines 1 to 5)."""
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 64, 48)
    csv_path = tmp_path / "ann" / "set_test.csv"
    csv_path.parent.mkdir()
    csv_path.write_bytes(
        f"{HEADER}\na.png,30,F,0,0,48,64\na.png,30,F,{'9' * 200_000},0,48,64\n".encode()
        + b"a\xff.png,30,F,0,0,48,64\na.png,40,F,0,0,48,64\n"
    )
    return images, csv_path


def test_skip_bad_skips_a_huge_field_and_a_non_utf8_byte(constant_checkpoint, tmp_path, capsys):
    images, csv_path = unreadable_lines_set(tmp_path)
    args = dataset_args(images, csv_path.parent, "utk", constant_checkpoint)
    code, results, err = run_eval(capsys, *args, "--skip-bad")
    assert code == 0, err
    assert (results["samples"], results["skipped_bad_rows"], results["mae"]) == (2, 2, 5.0)  # errors 2.5 and 7.5
    assert f"skipped bad row {csv_path}:3: not a readable CSV row (field larger than field limit (131072))" in err
    assert f"skipped bad row {csv_path}:4: not UTF-8 text (byte 0xff)" in err


def test_a_huge_field_without_skip_bad_stops_at_its_line(constant_checkpoint, tmp_path, capsys):
    images, csv_path = unreadable_lines_set(tmp_path)
    code, _, err = run_eval(capsys, *dataset_args(images, csv_path.parent, "utk", constant_checkpoint))
    assert code == 2 and err.count("\n") == 1
    assert f"{csv_path}:3: not a readable CSV row (field larger than field limit (131072)) (2 bad rows in all)" in err


def test_a_row_over_several_lines_is_named_by_its_first_line_on_one_line(tmp_path):
    write_image(tmp_path / "a.png", 64, 48)
    csv_path = tmp_path / "ann" / "set_test.csv"
    csv_path.parent.mkdir()
    csv_path.write_text(f'{HEADER}\n"a\n.png",30,F,0,0,48,64\na.png,x,F,0,0,48,64\na.png,30,F,0,0,48,64\n')
    settings = CropSettings(use_faces=True, use_persons=False, only_age=False)
    samples, report = load_split(tmp_path, csv_path, ["test"], None, settings, skip_bad=True, progress=False)
    assert len(samples) == 1
    assert [str(bad) for bad in report.bad_rows] == [
        f"{csv_path}:2: img_name 'a\\n.png' contains a line break",
        f"{csv_path}:4: age 'x' is not a number (or -1)",
    ]


def test_a_header_that_is_not_utf8_is_named_at_line_1(tmp_path):
    csv_path = tmp_path / "set_test.csv"
    csv_path.write_bytes(HEADER.replace("age", "\xe2ge").encode("latin-1") + b"\na.png,30,F,0,0,48,64\n")
    settings = CropSettings(use_faces=True, use_persons=False, only_age=False)
    with pytest.raises(MiVOLOError, match=rf"^{re.escape(str(csv_path))}:1: not UTF-8 text \(byte 0xe2\)"):
        load_split(tmp_path, csv_path, ["test"], None, settings, progress=False)


@pytest.mark.skipif(not Path("/proc/self/mem").is_file(), reason="needs Linux /proc")
def test_an_annotation_file_that_fails_to_read_is_one_line(constant_checkpoint, tmp_path, capsys):
    # /proc/self/mem opens as a regular file, and reading its offset 0 fails with EIO
    code, _, err = run_eval(capsys, *dataset_args(tmp_path, "/proc/self/mem", "utk", constant_checkpoint))
    assert code == 2
    assert err == "eval_pretrained.py: error: /proc/self/mem: cannot read annotation file (Input/output error)\n"


def test_an_image_that_breaks_during_the_run_is_one_line(constant_checkpoint, tmp_path, capsys, monkeypatch):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 64, 48)
    csv_path = write_csv(tmp_path / "ann" / "set_test.csv", HEADER, [("a.png", 30, "F", 0, 0, 48, 64)])
    real_load_split = runner.load_split

    def load_then_break(*args, **kwargs):
        loaded = real_load_split(*args, **kwargs)
        (images / "a.png").write_bytes(b"overwritten after the checks")
        return loaded

    monkeypatch.setattr(runner, "load_split", load_then_break)
    # a loader worker process: its error comes back wrapped with the worker's traceback
    args = dataset_args(images, csv_path.parent, "utk", constant_checkpoint)
    code, _, err = run_eval(capsys, *args, "--workers", "1")
    assert code == 2
    assert err == f"eval_pretrained.py: error: {csv_path}:2: image {images / 'a.png'} can no longer be read\n"


def test_results_file_format_follows_its_extension(constant_checkpoint, tmp_path, capsys):
    images = tmp_path / "images"
    images.mkdir()
    write_image(images / "a.png", 64, 48)
    csv_path = write_csv(tmp_path / "ann" / "set_test.csv", HEADER, [("a.png", 30, "F", 0, 0, 48, 64)])
    args = dataset_args(images, csv_path.parent, "utk", constant_checkpoint)
    code, results, err = run_eval(capsys, *args, "--results-file", str(tmp_path / "r.json"))
    assert code == 0, err
    assert json.loads((tmp_path / "r.json").read_text()) == results
    code, results, err = run_eval(capsys, *args, "--results-file", str(tmp_path / "r.out"), "--results-format", "csv")
    assert code == 0, err
    with open(tmp_path / "r.out", newline="") as handle:
        (row,) = list(csv.DictReader(handle))
    assert float(row["mae"]) == results["mae"] == 2.5


@pytest.mark.parametrize(
    "output_args, message",
    [
        (["--results-file", "r.json", "--results-format", "csv"], "--results-format csv contradicts --results-file"),
        (["--results-file", "r.CSV", "--results-format", "json"], "--results-format json contradicts --results-file"),
        (["--results-file", "r.txt"], "r.txt: the format follows the extension (.csv or .json); give --results-format"),
        (["--results-format", "json"], "--results-format json needs --results-file"),
        (["--results-file", "outdir"], "--results-file outdir is a folder; give the path of a file to write"),
        (["--draw-hist", "--hist-file", "outdir"], "--hist-file outdir is a folder"),
        (["--results-file", "fifo.csv"], "--results-file fifo.csv is not a regular file"),
    ],
)
def test_bad_output_options_stop_before_any_work(tmp_path, capsys, monkeypatch, output_args, message):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "outdir").mkdir()
    os.mkfifo(tmp_path / "fifo.csv")
    # nothing exists but the outputs: an error about them proves they are checked first
    args = dataset_args(tmp_path / "no-images", tmp_path / "no-annotations", "utk", tmp_path / "no-checkpoint.pth.tar")
    code, _, err = run_eval(capsys, *args, *output_args)
    assert code == 2 and err.count("\n") == 1
    assert message in err
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.txt").exists()
