"""demo.py on images: detect, estimate, draw, and write one JSON for the run."""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np
from tqdm import tqdm

from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import write_image_atomic, write_json_atomic
from mivolo.model.predictor import Predictor

_logger = logging.getLogger("mivolo")
IMAGES_JSON_VERSION = 1
IMAGES_JSON_NAME = "images.json"


@dataclass
class ImageRecord:
    path: str
    width: int
    height: int
    people: List[dict]
    annotated_image: Optional[str] = None


@dataclass
class ImageRunSummary:
    images: int = 0
    processed: int = 0
    failed: int = 0
    people: int = 0
    seconds: float = 0.0
    errors: List[str] = field(default_factory=list)


def read_image(path: Path) -> np.ndarray:
    """Decode an image, or raise ValueError with the reason."""
    data = np.fromfile(str(path), dtype=np.uint8)
    image = cv2.imdecode(data, cv2.IMREAD_COLOR) if data.size else None
    if image is None:
        raise ValueError("not a decodable image")
    return image


def annotated_name(path: Path) -> str:
    return f"out_{path.stem}.jpg"


def run_images(predictor: Predictor, images: List[Path], output_dir: Path, json_path: Optional[Path] = None) -> ImageRunSummary:
    """Process every image; a bad one is reported and counted, the rest still run."""
    summary = ImageRunSummary(images=len(images))
    records: List[ImageRecord] = []
    used_names = set()
    started = time.perf_counter()
    for path in tqdm(images, desc="images", unit="img", disable=len(images) < 2):
        try:
            image = read_image(path)
        except (ValueError, OSError) as exc:
            summary.failed += 1
            summary.errors.append(f"{path}: {exc}")
            _logger.warning("skipped %s: %s", path, exc)
            continue
        detections, annotated = predictor.recognize(image)
        people = [person.to_dict() for person in detections.people()]
        record = ImageRecord(path=str(path), width=image.shape[1], height=image.shape[0], people=people)
        if annotated is not None:
            name = _unique(annotated_name(path), used_names)
            write_image_atomic(output_dir / name, annotated)
            record.annotated_image = name
        records.append(record)
        summary.processed += 1
        summary.people += len(people)
    if summary.processed == 0:
        raise MiVOLOError(f"no image could be read: {summary.errors[0]}")
    summary.seconds = round(time.perf_counter() - started, 3)
    write_json_atomic(
        json_path or output_dir / IMAGES_JSON_NAME,
        {"version": IMAGES_JSON_VERSION, "images": [asdict(r) for r in records], "summary": asdict(summary)},
    )
    return summary


def _unique(name: str, used: set) -> str:
    """Images with the same file name in different sub-folders get distinct outputs."""
    stem, suffix = name.rsplit(".", 1)
    candidate, n = name, 1
    while candidate in used:
        candidate = f"{stem}_{n}.{suffix}"
        n += 1
    used.add(candidate)
    return candidate
