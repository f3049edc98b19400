"""--draw: annotated images (`out_<name>.jpg`) and annotated videos (`out_<name>.avi`).

Each person is drawn with their boxes and label (mivolo.core.drawing): in an image, this
image's estimate; in a video, the track ID and the track's aggregated answer. A video keeps
every frame of the source: frames that were not analysed show the last analysed frame's people,
an undecodable frame repeats the previous one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Dict, List, Optional

from mivolo.core.drawing import DrawnPerson, draw_people
from mivolo.core.record import FrameRecord, People, box_or_none, gender_name, optional
from mivolo.io.safe_output import write_image_atomic
from mivolo.io.video import OUTPUT_SUFFIX, AnnotatedVideoWriter, BackgroundVideoWriter
from mivolo.sinks.base import IMAGE_RUN, VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec


def image_people(people: People) -> List[DrawnPerson]:
    """An image's people labelled with their own estimate, each in its own colour."""
    return [
        DrawnPerson(
            box_or_none(people.body_xyxy[row]),
            box_or_none(people.face_xyxy[row]),
            optional(people.age[row]),
            gender_name(people.gender[row]),
            colour=row,
        )
        for row in range(len(people))
    ]


def tracked_people(people: People) -> List[DrawnPerson]:
    """A video frame's people labelled with their track's answer, coloured by track."""
    return [
        DrawnPerson(
            box_or_none(people.body_xyxy[row]),
            box_or_none(people.face_xyxy[row]),
            optional(people.track_age[row]),
            gender_name(people.track_gender[row]),
            track_id=int(people.track_id[row]),
            colour=int(people.track_id[row]),
        )
        for row in range(len(people))
    ]


def annotated_image_name(image_name: str) -> str:
    return f"out_{image_name}.jpg"


class AnnotatedImages:
    needs_every_frame = False

    def __init__(self, output_dir: Path, image_names=()):
        self.output_dir = Path(output_dir)
        self.image_names = tuple(image_names)

    def planned(self) -> List[Path]:
        return [self.output_dir / annotated_image_name(name) for name in self.image_names]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        if not frame.corrupt:
            write_image_atomic(self.output_dir / annotated_image_name(frame.name), draw_people(frame.image, image_people(frame.people)))

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        return {}


class AnnotatedVideo:
    needs_every_frame = True

    def __init__(self, target: Path):
        self.target = Path(target)
        self.writer = None
        self.clock = None

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        writer = AnnotatedVideoWriter(self.target, info.fps, info.frame_size)
        self.clock = info.clock
        self.writer = BackgroundVideoWriter(writer, info.clock) if info.threaded_writer else writer

    def _timed(self, stage: str):
        return self.clock(stage) if self.clock is not None else contextlib.nullcontext()

    def write(self, frame: FrameRecord) -> None:
        if frame.corrupt:
            self.writer.repeat_last()
            return
        image, people = frame.image, tracked_people(frame.people)
        render = (lambda: draw_people(image, people)) if people else (lambda: image)
        if isinstance(self.writer, BackgroundVideoWriter):
            self.writer.write(render)
            return
        with self._timed("draw"):
            drawn = render()
        with self._timed("encode"):
            self.writer.write(drawn)

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        video = self.writer.close() if self.writer is not None else None
        failure = getattr(self.writer, "failure", None)
        if failure is not None:
            raise failure
        return {"video": video}


def _add_arguments(group) -> None:
    group.add_argument(
        "--draw", action="store_true", help="save annotated images (out_<name>.jpg) and videos (out_<name>.avi)"
    )


def _build(options, plan: OutputPlan):
    if not options.draw:
        return None
    if plan.kind == IMAGE_RUN:
        return AnnotatedImages(plan.output_dir, plan.image_names)
    return AnnotatedVideo(plan.path(f"out_{plan.name}{OUTPUT_SUFFIX}"))


SINK = SinkSpec(name="annotated", runs=(IMAGE_RUN, VIDEO_RUN), add_arguments=_add_arguments, build=_build)
