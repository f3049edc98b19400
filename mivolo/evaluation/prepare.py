"""Raw public face datasets -> the benchmark annotation CSV (tools/prepare_utk.py, tools/prepare_faces_csv.py).

Both converters write one row per face image with the face box being the whole (aligned) image,
or the most confident face the detector finds in it. Every input that cannot become a row is
counted under the reason it was skipped.
"""

from __future__ import annotations

import csv
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Tuple

import cv2
import numpy as np
from tqdm import tqdm

from mivolo.core.errors import MiVOLOError
from mivolo.evaluation.dataset import REQUIRED_COLUMNS, Box
from mivolo.core.geometry import to_int_boxes
from mivolo.io.safe_output import atomic_path
from mivolo.core.record import FACE_LABEL
from mivolo.io.sources import IMAGE_EXTENSIONS, find_files

UNKNOWN_LABEL = "-1"
# UTKFace: <age>_<gender>_<race>_<date>.jpg(.chip.jpg); gender 0 = male, 1 = female
UTK_NAME = re.compile(r"^(?P<age>\d+)_(?P<gender>\d+)_")
UTK_GENDERS = {"0": "M", "1": "F"}
MALE_WORDS = {"m", "male", "man", "0"}
FEMALE_WORDS = {"f", "female", "woman", "1"}
AGE_CLASS = re.compile(r"^\d+;\d+$")


@dataclass(frozen=True)
class AnnotationRecord:
    img_name: str  # relative to the images folder, with forward slashes
    age: str
    gender: str  # M, F or -1
    face_box: Box


@dataclass
class PrepareSummary:
    written: int = 0
    skipped: Counter = field(default_factory=Counter)  # reason -> count
    first_example: Dict[str, str] = field(default_factory=dict)  # reason -> first input skipped for it
    notes: Counter = field(default_factory=Counter)  # written rows worth knowing about

    def skip(self, reason: str, example: str) -> None:
        self.skipped[reason] += 1
        self.first_example.setdefault(reason, example)

    def lines(self, output: Path) -> List[str]:
        lines = [f"wrote {self.written} rows to {output}; skipped {sum(self.skipped.values())}"]
        for reason, count in self.skipped.most_common():
            lines.append(f"  skipped {count}: {reason} (e.g. {self.first_example[reason]})")
        for note, count in self.notes.most_common():
            lines.append(f"  note: {count} {note}")
        return lines


class FaceBoxFinder:
    """The whole image as the face box, or the detector's most confident face when one is given."""

    def __init__(self, detector=None):
        self.detector = detector

    @classmethod
    def from_weights(cls, detector_weights: Optional[Path], device: Optional[str]) -> "FaceBoxFinder":
        if detector_weights is None:
            return cls()
        from mivolo.model.yolo_detector import Detector

        return cls(Detector(detector_weights, device=device, half=False))

    def find(self, image: np.ndarray) -> Tuple[Box, bool]:
        """(box, refined): refined is False when the whole image is used."""
        height, width = image.shape[:2]
        whole = (0, 0, width, height)
        if self.detector is None:
            return whole, False
        detections = self.detector.predict(image)
        faces = detections.get_bboxes_inds(FACE_LABEL)
        if not faces:
            return whole, False
        best = max(faces, key=lambda index: detections.confidences[index])
        return tuple(int(v) for v in to_int_boxes(detections.boxes_xyxy[best])[0]), True


def add_detector_arguments(parser) -> None:
    """The optional face-box refinement flags shared by the preparation tools."""
    parser.add_argument("--detector", type=Path, metavar="PT", help="YOLOv8 person+face weights to refine the face box")
    parser.add_argument("--device", default=None, help="detector device: cpu, cuda or cuda:N (default: GPU if any)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def image_files(folder: Path) -> List[Path]:
    if not folder.is_dir():
        raise MiVOLOError(f"{folder}: images folder not found")
    return find_files(folder, IMAGE_EXTENSIONS)


def normalize_gender(text: str) -> Optional[str]:
    """M, F or -1 from the usual spellings; None when it is none of them."""
    word = text.strip().lower()
    if word in MALE_WORDS:
        return "M"
    if word in FEMALE_WORDS:
        return "F"
    if word in ("-1", ""):
        return UNKNOWN_LABEL
    return None


def normalize_age(text: str) -> Optional[str]:
    """A non-negative number, an age class "a;b", or -1; None otherwise."""
    text = text.strip()
    if text == UNKNOWN_LABEL or AGE_CLASS.match(text):
        return text
    try:
        years = float(text)
    except ValueError:
        return None
    return text if np.isfinite(years) and years >= 0 else None


def write_annotation_csv(path: Path, records: Iterable[AnnotationRecord]) -> Path:
    """The benchmark CSV (face boxes only), written atomically."""
    with atomic_path(path) as tmp:
        with open(tmp, "w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(REQUIRED_COLUMNS)
            for record in records:
                writer.writerow([record.img_name, record.age, record.gender, *record.face_box])
    return path


def _record(
    image_path: Path, img_name: str, age: str, gender: str, finder: FaceBoxFinder, summary: PrepareSummary
) -> Optional[AnnotationRecord]:
    image = cv2.imread(str(image_path), cv2.IMREAD_COLOR)
    if image is None:
        summary.skip("image cannot be decoded", str(image_path))
        return None
    box, refined = finder.find(image)
    if finder.detector is not None and not refined:
        summary.notes["images with no face detected: whole image kept as the face box"] += 1
    return AnnotationRecord(img_name, age, gender, box)


def prepare_utk(images_dir: Path, output: Path, finder: FaceBoxFinder, progress: bool = True) -> PrepareSummary:
    """UTKFace files named age_gender_race_date.jpg -> annotation CSV."""
    summary = PrepareSummary()
    records = []
    for path in tqdm(image_files(images_dir), desc="UTKFace", unit="img", disable=not progress):
        match = UTK_NAME.match(path.name)
        if match is None:
            summary.skip("name is not age_gender_race_date.jpg", path.name)
            continue
        gender = UTK_GENDERS.get(match["gender"])
        if gender is None:
            summary.skip(f"gender code {match['gender']} is not 0 (male) or 1 (female)", path.name)
            continue
        record = _record(path, path.relative_to(images_dir).as_posix(), str(int(match["age"])), gender, finder, summary)
        if record is not None:
            records.append(record)
    summary.written = len(records)
    write_annotation_csv(output, records)
    return summary


LABEL_COLUMNS = ("path", "age", "gender")


def prepare_faces_csv(
    images_dir: Path, labels_csv: Path, output: Path, finder: FaceBoxFinder, progress: bool = True
) -> PrepareSummary:
    """A folder of face images plus a labels CSV (path, age, gender) -> annotation CSV."""
    if not images_dir.is_dir():
        raise MiVOLOError(f"{images_dir}: images folder not found")
    try:
        with open(labels_csv, newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = [name.strip().lower() for name in next(reader, [])]
            missing = [name for name in LABEL_COLUMNS if name not in header]
            if missing:
                raise MiVOLOError(
                    f"{labels_csv}:1: missing columns {', '.join(missing)} (needs {', '.join(LABEL_COLUMNS)})"
                )
            columns = [header.index(name) for name in LABEL_COLUMNS]
            rows = [(reader.line_num, fields) for fields in reader if any(value.strip() for value in fields)]
    except OSError as exc:
        raise MiVOLOError(f"{labels_csv}: cannot read labels file ({exc.strerror or exc})") from exc
    except (csv.Error, UnicodeDecodeError) as exc:
        raise MiVOLOError(f"{labels_csv}: not a readable CSV file ({exc})") from exc

    summary = PrepareSummary()
    records = []
    for line, fields in tqdm(rows, desc="Faces", unit="row", disable=not progress):
        where = f"{labels_csv}:{line}"
        if len(fields) <= max(columns):
            summary.skip("malformed row (too few fields)", where)
            continue
        name, age_text, gender_text = (fields[index].strip() for index in columns)
        image_path = images_dir / name
        age, gender = normalize_age(age_text), normalize_gender(gender_text)
        if not name or not image_path.is_file():
            summary.skip("image not found", where)
        elif age is None:
            summary.skip("age is not a number, an age class a;b or -1", where)
        elif gender is None:
            summary.skip("gender is not M/F/male/female/0/1/-1", where)
        else:
            record = _record(image_path, name, age, gender, finder, summary)
            if record is not None:
                records.append(record)
    summary.written = len(records)
    write_annotation_csv(output, records)
    return summary
