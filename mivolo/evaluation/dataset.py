"""Benchmark annotation CSVs -> validated evaluation samples -> a torch Dataset of uint8 crops.

The CSV schema and the evaluation-path preprocessing follow the shared spec, section 7, which
is how the published figures were computed and differs from inference: boxes are clamped to
[0, W] x [0, H]; a face needs >= 5 px and a body >= 100 px per side; a body crop blanks the
sample's own face plus every other annotated face or body with IoU >= 1e-4 (no edge snapping);
an unusable crop is a black S x S image. Crops leave here as letterboxed RGB uint8 CHW; the
runner normalises them on the device.

Every bad row is reported with its file and line (the first line of a record that spans several),
including a line that is not UTF-8 or not CSV and an img_name that leads outside the images
folder. Rows that cannot be evaluated by rule (a face under 5 px, no labels, ...) are not errors:
they are counted and shown at the end.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from tqdm import tqdm

from mivolo.core.errors import MiVOLOError
from mivolo.evaluation.metrics import UNKNOWN, AgeBins
from mivolo.core.geometry import box_iou, clamp_boxes
from mivolo.core.record import FACE_LABEL, PERSON_LABEL
from mivolo.model.preprocessing import PersonCropRule, class_letterbox, crop_person

_logger = logging.getLogger("mivolo.evaluation")

FACE_COLUMNS = ("face_x0", "face_y0", "face_x1", "face_y1")
PERSON_COLUMNS = ("person_x0", "person_y0", "person_x1", "person_y1")
REQUIRED_COLUMNS = ("img_name", "age", "gender") + FACE_COLUMNS
ABSENT_COORD = -1
MIN_FACE_SIZE = 5
MIN_PERSON_SIZE = 100
MASK_IOU_THRESH = 1e-4
# The boxes to blank are chosen per sample beforehand (own face always, others by IoU), so the
# crop blanks every box it is given: threshold 0 admits all of them.
EVAL_PERSON_RULE = PersonCropRule(
    min_person_size=MIN_PERSON_SIZE,
    mask_iou_thresh=0.0,
    snap_ratio=None,
    min_remaining_ratio=0.4,
    clamp_to_image_edge=True,
)

Box = Tuple[int, int, int, int]


@dataclass(frozen=True)
class RowSource:
    csv_path: Path
    line: int

    def __str__(self) -> str:
        return f"{self.csv_path}:{self.line}"


@dataclass(frozen=True)
class BadRow:
    source: RowSource
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


@dataclass(frozen=True)
class AnnotationRow:
    """One CSV row, parsed. Labels: -1 = unknown; age is years or an age-class index."""

    source: RowSource
    image_path: str
    age_label: int
    gender_label: int
    face_box: Optional[Box]
    person_box: Optional[Box]

    def has_labels(self, only_age: bool) -> bool:
        if only_age:
            return self.age_label != UNKNOWN
        return not (self.age_label == UNKNOWN and self.gender_label == UNKNOWN)


@dataclass(frozen=True)
class CropSettings:
    """Which crops this run feeds the network (from the checkpoint and --with-persons/--disable-faces)."""

    use_faces: bool
    use_persons: bool
    only_age: bool


@dataclass(frozen=True)
class EvalSample:
    """Everything a worker needs to build one network input; boxes already clamped to the image."""

    source: str
    image_path: str
    age_label: int
    gender_label: int
    face_box: Optional[Box]
    person_box: Optional[Box]
    mask_boxes: Tuple[Box, ...] = ()
    mask_labels: Tuple[str, ...] = ()


@dataclass
class DatasetReport:
    csv_files: List[Path]
    rows: int = 0
    bad_rows: List[BadRow] = field(default_factory=list)
    not_evaluated: Counter = field(default_factory=Counter)  # reason -> rows
    samples: int = 0


class EvalItem(NamedTuple):
    image: torch.Tensor  # uint8, C x S x S, RGB; channels 0-2 face, 3-5 body
    age: int
    gender: int


# ---------------------------------------------------------------- CSV parsing


def _is_minus_one(text: str) -> bool:
    try:
        return float(text) == ABSENT_COORD
    except ValueError:
        return False


def parse_gender(text: str) -> int:
    """`M` or `0` = male (0); -1 = unknown; any other value = female (1), as published."""
    text = text.strip()
    if not text:
        raise ValueError("gender is empty (use M, F or -1)")
    if _is_minus_one(text):
        return UNKNOWN
    return 0 if text in ("M", "0") else 1


def parse_age(text: str, bins: Optional[AgeBins]) -> int:
    """Regression: years rounded half to even (python round, as published); classes: bin index."""
    text = text.strip()
    if _is_minus_one(text):
        return UNKNOWN
    if bins is not None:
        index = bins.label_index(text)
        if index is None:
            raise ValueError(f"age {text!r} is not one of the {bins.name} age classes ({' '.join(bins.labels)} or -1)")
        return index
    try:
        years = float(text)
    except ValueError:
        raise ValueError(f"age {text!r} is not a number (or -1)") from None
    if not math.isfinite(years) or years < 0:
        raise ValueError(f"age {text!r} is not a valid age")
    return round(years)


def parse_box(texts: Sequence[str], kind: str) -> Optional[Box]:
    """int xyxy (truncated, as published), None when all four are -1."""
    coords = []
    for text in texts:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"{kind} box coordinate {text.strip()!r} is not a number") from None
        if not math.isfinite(value):
            raise ValueError(f"{kind} box coordinate {text.strip()!r} is not finite")
        coords.append(int(value))
    if all(coord == ABSENT_COORD for coord in coords):
        return None
    x0, y0, x1, y1 = coords
    if x1 <= x0 or y1 <= y0:
        raise ValueError(f"{kind} box {coords} is empty or inverted (needs x0 < x1 and y0 < y1)")
    return (x0, y0, x1, y1)


def _header_columns(csv_path: Path, header: Optional[List[str]], need_persons: bool) -> Dict[str, int]:
    if header is None:
        raise MiVOLOError(f"{csv_path}:1: empty file; expected a header with {', '.join(REQUIRED_COLUMNS)}")
    names = [name.strip() for name in header]
    missing = [name for name in REQUIRED_COLUMNS if name not in names]
    person_present = [name for name in PERSON_COLUMNS if name in names]
    if person_present:
        missing += [name for name in PERSON_COLUMNS if name not in names]
    if missing:
        raise MiVOLOError(
            f"{csv_path}:1: missing columns {', '.join(missing)} "
            f"(needs {', '.join(REQUIRED_COLUMNS)}, optionally {', '.join(PERSON_COLUMNS)})"
        )
    if need_persons and not person_present:
        raise MiVOLOError(
            f"{csv_path}:1: --with-persons needs the columns {', '.join(PERSON_COLUMNS)}; this file has face boxes only"
        )
    wanted = REQUIRED_COLUMNS + (PERSON_COLUMNS if person_present else ())
    return {name: names.index(name) for name in wanted}


def _not_utf8(fields: Sequence[str]) -> Optional[str]:
    """The file is read with errors="surrogateescape", so each byte that is not UTF-8 is a lone surrogate."""
    try:
        "".join(fields).encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"not UTF-8 text (byte 0x{ord(exc.object[exc.start]) - 0xDC00:02x}); save the file as UTF-8"
    return None


def _csv_records(handle) -> Iterator[Tuple[int, List[str], Optional[str]]]:
    """(first line, fields, problem) per CSV record; the fields mean nothing when there is a problem."""
    reader = csv.reader(handle)
    line = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            # the reader starts afresh at the next line, so an unreadable line costs one row, not the file
            yield line, [], f"not a readable CSV row ({exc})"
        else:
            yield line, fields, _not_utf8(fields)
        line = reader.line_num + 1


def read_annotation_csv(
    csv_path: Path, images_dir: Path, bins: Optional[AgeBins], need_persons: bool
) -> Tuple[List[AnnotationRow], List[BadRow]]:
    """Parse one annotation file. Header problems are fatal; row problems come back as BadRow."""
    rows: List[AnnotationRow] = []
    bad: List[BadRow] = []
    images_root = Path(os.path.realpath(images_dir))
    try:
        handle = open(csv_path, newline="", encoding="utf-8-sig", errors="surrogateescape")
    except OSError as exc:
        raise MiVOLOError(f"{csv_path}: cannot read annotation file ({exc.strerror or exc})") from exc
    with handle:
        try:
            records = _csv_records(handle)
            _, header, problem = next(records, (1, None, None))
            if problem:
                raise MiVOLOError(f"{csv_path}:1: {problem}")
            columns = _header_columns(csv_path, header, need_persons)
            for line, fields, problem in records:
                source = RowSource(csv_path, line)
                if problem:
                    bad.append(BadRow(source, problem))
                    continue
                if not any(value.strip() for value in fields):
                    continue  # blank line
                try:
                    rows.append(_parse_row(fields, columns, source, images_dir, images_root, bins))
                except ValueError as exc:
                    bad.append(BadRow(source, str(exc)))
        except OSError as exc:
            raise MiVOLOError(f"{csv_path}: cannot read annotation file ({exc.strerror or exc})") from exc
    return rows, bad


def _confined_image_path(images_dir: Path, images_root: Path, image_name: str) -> str:
    """The row's image inside --dataset_images; a row must not make the run read any other file."""
    if "\n" in image_name or "\r" in image_name:
        # refused, so that every message naming the image stays one line
        raise ValueError(f"img_name {image_name!r} contains a line break")
    if os.path.isabs(image_name):
        raise ValueError(f"img_name {image_name!r} is an absolute path; it must be relative to --dataset_images")
    image_path = os.path.join(images_dir, image_name)
    # os.path.realpath, not Path.resolve: a symlink loop must be a bad row, not a RuntimeError
    real_path = os.path.realpath(image_path)
    if not Path(real_path).is_relative_to(images_root):
        raise ValueError(f"img_name {image_name!r} resolves to {real_path}, outside --dataset_images {images_root}")
    return image_path


def _parse_row(
    fields: List[str],
    columns: Dict[str, int],
    source: RowSource,
    images_dir: Path,
    images_root: Path,
    bins: Optional[AgeBins],
) -> AnnotationRow:
    if len(fields) <= max(columns.values()):
        raise ValueError(f"malformed row: {len(fields)} fields, the header has at least {max(columns.values()) + 1}")
    value = {name: fields[index] for name, index in columns.items()}
    image_name = value["img_name"].strip()
    if not image_name:
        raise ValueError("img_name is empty")
    face_box = parse_box([value[name] for name in FACE_COLUMNS], "face")
    person_box = parse_box([value[name] for name in PERSON_COLUMNS], "person") if PERSON_COLUMNS[0] in value else None
    row = AnnotationRow(
        source=source,
        image_path=_confined_image_path(images_dir, images_root, image_name),
        age_label=parse_age(value["age"], bins),
        gender_label=parse_gender(value["gender"]),
        face_box=face_box,
        person_box=person_box,
    )
    if not os.path.isfile(row.image_path):
        raise ValueError(f"image not found: {row.image_path}")
    return row


def find_annotation_files(annotations: Path, splits: Sequence[str]) -> List[Path]:
    """A CSV file as given, or the CSVs under a folder whose names contain one of the splits."""
    if annotations.is_file():
        return [annotations]
    if not annotations.is_dir():
        raise MiVOLOError(f"{annotations}: annotations folder or CSV file not found")
    candidates = sorted(path for path in annotations.rglob("*.csv") if path.is_file())
    chosen = [path for path in candidates if any(split in path.name for split in splits)]
    if not chosen:
        found = ", ".join(path.name for path in candidates[:10]) or "no CSV files at all"
        raise MiVOLOError(
            f"{annotations}: empty split: no annotation CSV whose name contains "
            f"{' or '.join(repr(split) for split in splits)} (found: {found})"
        )
    return chosen


# ---------------------------------------------------------------- per-image checks and sample building


def clamp_to_image(box: Box, height: int, width: int) -> Box:
    """The evaluation path clamps to [0, W] x [0, H] (inference clamps to W-1, H-1)."""
    return tuple(int(v) for v in clamp_boxes(box, height + 1, width + 1)[0])


def _too_small(box: Box, min_size: int) -> bool:
    return box[2] - box[0] < min_size or box[3] - box[1] < min_size


@dataclass
class _Candidate:
    row: AnnotationRow
    face: Optional[Box]
    person: Optional[Box]


@dataclass
class ImageCheck:
    samples: List[EvalSample] = field(default_factory=list)
    bad_rows: List[BadRow] = field(default_factory=list)
    not_evaluated: Counter = field(default_factory=Counter)


def check_image(image_path: str, rows: Sequence[AnnotationRow], settings: CropSettings) -> ImageCheck:
    """Decode the image, reject rows whose boxes miss it, and build the samples the benchmark evaluates."""
    check = ImageCheck()
    image = cv2.imread(image_path, cv2.IMREAD_COLOR)
    if image is None:
        check.bad_rows = [BadRow(row.source, f"cannot decode image {image_path}") for row in rows]
        return check
    height, width = image.shape[:2]
    inside = []
    for row in rows:
        used = [("face", row.face_box)] + ([("person", row.person_box)] if settings.use_persons else [])
        outside = [
            (kind, box) for kind, box in used if box is not None and _too_small(clamp_to_image(box, height, width), 1)
        ]
        if outside:
            kind, box = outside[0]
            check.bad_rows.append(
                BadRow(row.source, f"{kind} box {list(box)} lies outside the {width}x{height} image {image_path}")
            )
        else:
            inside.append(row)
    candidates = _size_filtered(inside, height, width, settings, check.not_evaluated)
    for index, candidate in enumerate(candidates):
        if not candidate.row.has_labels(settings.only_age):
            check.not_evaluated["no labels (still masked out of other bodies)"] += 1
            continue
        sample = _build_sample(image, candidates, index, settings, check.not_evaluated)
        if sample is not None:
            check.samples.append(sample)
    return check


def _size_filtered(
    rows: Sequence[AnnotationRow], height: int, width: int, settings: CropSettings, not_evaluated: Counter
) -> List[_Candidate]:
    """Boxes clamped to the image; faces under 5 px and bodies under 100 px are dropped."""
    candidates = []
    for row in rows:
        labelled = row.has_labels(settings.only_age)
        face = None if row.face_box is None else clamp_to_image(row.face_box, height, width)
        if face is not None and _too_small(face, MIN_FACE_SIZE):
            face = None
            if labelled:
                not_evaluated[f"face under {MIN_FACE_SIZE} px (face ignored)"] += 1
        person = None
        if settings.use_persons and row.person_box is not None:
            person = clamp_to_image(row.person_box, height, width)
            if _too_small(person, MIN_PERSON_SIZE):
                person = None
                if labelled:
                    not_evaluated[f"body under {MIN_PERSON_SIZE} px (body ignored)"] += 1
        if face is None and person is None:
            if labelled:
                not_evaluated["no usable face or body box"] += 1
            continue
        candidates.append(_Candidate(row, face, person))
    return candidates


def _objects_to_mask(candidates: Sequence[_Candidate], index: int) -> Tuple[List[Box], List[str]]:
    """The sample's own face, plus every other face or body overlapping its body (IoU >= 1e-4)."""
    own = candidates[index]
    boxes = [own.face] if own.face is not None else []
    labels = [FACE_LABEL] * len(boxes)
    others = [
        (box, label)
        for other_index, other in enumerate(candidates)
        if other_index != index
        for box, label in ((other.face, FACE_LABEL), (other.person, PERSON_LABEL))
        if box is not None
    ]
    if others:
        # float64 division as the published evaluation: float32 can round a ratio just under 1e-4 up to it
        ious = box_iou([own.person], [box for box, _ in others], dtype=np.float64)[0]
        for (box, label), iou in zip(others, ious):
            if iou >= MASK_IOU_THRESH:
                boxes.append(box)
                labels.append(label)
    return boxes, labels


def _build_sample(
    image: np.ndarray, candidates: Sequence[_Candidate], index: int, settings: CropSettings, not_evaluated: Counter
) -> Optional[EvalSample]:
    candidate = candidates[index]
    face = candidate.face if settings.use_faces else None
    person, mask_boxes, mask_labels = candidate.person, [], []
    if person is not None:
        mask_boxes, mask_labels = _objects_to_mask(candidates, index)
        if _body_crop(image, person, mask_boxes, mask_labels) is None:
            person, mask_boxes, mask_labels = None, [], []
    if face is None and person is None:
        reason = (
            "body masked out (under 40% left) and no face"
            if candidate.person is not None
            else "no body box (faces disabled)"
        )
        not_evaluated[reason] += 1
        return None
    return EvalSample(
        source=str(candidate.row.source),
        image_path=candidate.row.image_path,
        age_label=candidate.row.age_label,
        gender_label=candidate.row.gender_label,
        face_box=face,
        person_box=person,
        mask_boxes=tuple(mask_boxes),
        mask_labels=tuple(mask_labels),
    )


def _body_crop(image: np.ndarray, person: Box, mask_boxes: Sequence[Box], mask_labels: Sequence[str]):
    boxes = np.asarray([person, *mask_boxes], dtype=np.int64).reshape(-1, 4)
    return crop_person(image, 0, boxes, [PERSON_LABEL, *mask_labels], EVAL_PERSON_RULE)


# ---------------------------------------------------------------- loading a split


def _fail_on_bad_rows(bad_rows: Sequence[BadRow], skip_bad: bool) -> None:
    if bad_rows and not skip_bad:
        more = f" ({len(bad_rows)} bad rows in all)" if len(bad_rows) > 1 else ""
        raise MiVOLOError(f"{bad_rows[0]}{more}; fix the data or pass --skip-bad to leave such rows out")


def _rows_by_image(
    files_rows: Iterable[Tuple[Path, List[AnnotationRow]]], report: DatasetReport
) -> Dict[str, List[AnnotationRow]]:
    """Rows grouped per image. An image annotated again in a later CSV keeps only the later rows,
    as in the published evaluation (a per-file dict update); the replaced rows are counted."""
    by_image: Dict[str, List[AnnotationRow]] = {}
    for csv_path, rows in files_rows:
        per_file: Dict[str, List[AnnotationRow]] = defaultdict(list)
        for row in rows:
            per_file[row.image_path].append(row)
        for image_path, image_rows in per_file.items():
            if image_path in by_image:
                report.not_evaluated[
                    f"image annotated again in a later CSV ({csv_path.name}): earlier rows replaced"
                ] += len(by_image[image_path])
            by_image[image_path] = image_rows
    return by_image


def load_split(
    images_dir: Path,
    annotations: Path,
    splits: Sequence[str],
    bins: Optional[AgeBins],
    settings: CropSettings,
    skip_bad: bool = False,
    threads: Optional[int] = None,
    progress: bool = True,
) -> Tuple[List[EvalSample], DatasetReport]:
    """Read, validate and filter the split's annotations; fatal problems raise MiVOLOError."""
    if not images_dir.is_dir():
        raise MiVOLOError(f"{images_dir}: images folder not found")
    files = find_annotation_files(annotations, splits)
    report = DatasetReport(csv_files=files)
    files_rows = []
    for csv_path in files:
        rows, bad = read_annotation_csv(csv_path, images_dir, bins, need_persons=settings.use_persons)
        report.rows += len(rows) + len(bad)
        report.bad_rows.extend(bad)
        files_rows.append((csv_path, rows))
    _fail_on_bad_rows(report.bad_rows, skip_bad)
    by_image = _rows_by_image(files_rows, report)

    samples: List[EvalSample] = []
    threads = threads or min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(max_workers=threads) as pool:
        checks = pool.map(lambda item: check_image(item[0], item[1], settings), by_image.items())
        for check in tqdm(checks, total=len(by_image), desc="Checking images", unit="img", disable=not progress):
            samples.extend(check.samples)
            report.bad_rows.extend(check.bad_rows)
            report.not_evaluated.update(check.not_evaluated)
    _fail_on_bad_rows(report.bad_rows, skip_bad)
    report.samples = len(samples)
    if not samples:
        reasons = "; ".join(f"{n} {reason}" for reason, n in report.not_evaluated.items()) or "no rows"
        raise MiVOLOError(
            f"{', '.join(str(path) for path in files)}: empty split: no sample can be evaluated ({reasons})"
        )
    return samples, report


# ---------------------------------------------------------------- torch Dataset


class EvalDataset(torch.utils.data.Dataset):
    """Letterboxed face (and body) crops as uint8 RGB CHW, with their labels."""

    def __init__(self, samples: Sequence[EvalSample], input_size: int, with_body_channels: bool):
        self.samples = list(samples)
        self.input_size = input_size
        self.with_body_channels = with_body_channels

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> EvalItem:
        sample = self.samples[index]
        image = cv2.imread(sample.image_path, cv2.IMREAD_COLOR)
        if image is None:
            raise MiVOLOError(f"{sample.source}: image {sample.image_path} can no longer be read")
        face = None
        if sample.face_box is not None:
            x0, y0, x1, y1 = sample.face_box
            face = image[y0:y1, x0:x1]
        channels = [self._chw(face)]
        if self.with_body_channels:
            body = None
            if sample.person_box is not None:
                body = _body_crop(image, sample.person_box, sample.mask_boxes, sample.mask_labels)
            channels.append(self._chw(body))
        return EvalItem(torch.from_numpy(np.concatenate(channels, axis=0)), sample.age_label, sample.gender_label)

    def _chw(self, crop: Optional[np.ndarray]) -> np.ndarray:
        if crop is None:
            return np.zeros((3, self.input_size, self.input_size), dtype=np.uint8)
        boxed = class_letterbox(crop, self.input_size)
        return np.ascontiguousarray(boxed[:, :, ::-1].transpose(2, 0, 1))
