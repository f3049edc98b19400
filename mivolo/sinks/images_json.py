"""`images.json` (or --json-output-path), always for an image run: every person of every image,
and the run's counts. A person is one record whether seen by face, body or both; `age`,
`gender` and `gender_score` are null when neither a usable face nor a usable body crop exists."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, Iterable, List, Optional

from mivolo.core.errors import MiVOLOError
from mivolo.core.record import NO_INDEX, FrameRecord, People, box_or_none, gender_name, optional
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.annotated import annotated_image_name
from mivolo.sinks.base import IMAGE_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.crops import crop_names
from mivolo.sinks.values import relative_to

IMAGES_JSON_VERSION = 1
IMAGES_JSON_NAME = "images.json"


def _rounded_box(row) -> Optional[List[float]]:
    box = box_or_none(row)
    return None if box is None else [round(v, 2) for v in box]


def person_record(people: People, row: int) -> dict:
    body, face = int(people.body_index[row]), int(people.face_index[row])
    return {
        "person_index": None if body == NO_INDEX else body,
        "face_index": None if face == NO_INDEX else face,
        "person_box": _rounded_box(people.body_xyxy[row]),
        "face_box": _rounded_box(people.face_xyxy[row]),
        "age": optional(people.age[row]),
        "gender": gender_name(people.gender[row]),
        "gender_score": optional(people.gender_score[row]),
        "track_id": None,
    }


@dataclass
class ImageRunSummary:
    images: int = 0
    processed: int = 0
    failed: int = 0
    people: int = 0
    seconds: float = 0.0
    errors: List[str] = field(default_factory=list)

    def add(self, people: int) -> None:
        self.images += 1
        self.processed += 1
        self.people += people

    def add_failure(self, error: str) -> None:
        self.images += 1
        self.failed += 1
        self.errors.append(error)


class ImagesJson:
    needs_every_frame = False

    def __init__(self, target: Path, draw: bool, crops):
        self.target = Path(target)
        self.draw = draw
        self.crops = crops
        self.records: List[dict] = []
        self.summary = ImageRunSummary()

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        pass

    def record(self, frame: FrameRecord) -> dict:
        """A readable image's entry in `images` (also what a Ray Data image worker returns)."""
        people = [person_record(frame.people, row) for row in range(len(frame.people))]
        if self.crops is not None:
            for row, person in enumerate(people):
                person["crop"] = relative_to(self.crops.of_image_person(frame.name, row), self.target.parent)
        height, width = frame.image.shape[:2]
        record = {"path": frame.source, "width": width, "height": height, "people": people, "annotated_image": None}
        if self.draw:
            record["annotated_image"] = annotated_image_name(frame.name)
        return record

    def write(self, frame: FrameRecord) -> None:
        if frame.corrupt:
            self.summary.add_failure(f"{frame.source}: {frame.error}")
        else:
            record = self.record(frame)
            self.records.append(record)
            self.summary.add(len(record["people"]))

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        self.summary.seconds = round(result.stats.seconds, 3)
        write_images_json(self.target, self.records, self.summary)
        return {"images_json": self.target}


def write_images_json(target: Path, records: Iterable[dict], summary: ImageRunSummary) -> Path:
    """The whole document, the records streamed one at a time (a Ray run's may not fit in memory)."""
    try:
        with atomic_path(target) as tmp, tmp.open("w") as handle:
            handle.write(f'{{\n  "version": {IMAGES_JSON_VERSION},\n  "images": [')
            for count, record in enumerate(records):
                handle.write(("," if count else "") + "\n" + json.dumps(record, indent=2, allow_nan=False))
            handle.write(f'\n  ],\n  "summary": {json.dumps(asdict(summary), indent=2, allow_nan=False)}\n}}\n')
    except ValueError as exc:
        raise MiVOLOError(f"{target}: not written: the data is not strict JSON ({exc})") from exc
    return Path(target)


def _build(options, plan: OutputPlan):
    return ImagesJson(plan.json_path or plan.path(IMAGES_JSON_NAME), options.draw, crop_names(options, plan))


SINK = SinkSpec(name="images_json", runs=(IMAGE_RUN,), add_arguments=lambda group: None, build=_build, order=100)
