"""--draw: annotated images (`out_<name>.jpg`) and annotated videos (`out_<name>.avi`).

Each person is drawn with their boxes and label (mivolo.core.drawing): in an image, this
image's estimate; in a video, the track ID and the track's aggregated answer. A video keeps
every frame of the source: frames that were not analysed show the last analysed frame's people,
an undecodable frame repeats the previous one. With zones or lines declared, the video also shows
each zone's outline with the people inside it now, and each line with its running in / out
counts (every tracked person, as the run sees them: the files count reported people only).
--blur-faces blurs every face first (mivolo.core.privacy).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Dict, List, Optional

from mivolo.analytics.zone_summary import crossings_in_frame
from mivolo.analytics.zone_tracker import INSIDE_COLUMN
from mivolo.analytics.zones import ZoneSet, zone_set_of
from mivolo.core.drawing import DrawnLine, DrawnPerson, DrawnZone, draw_people, draw_zones
from mivolo.core.privacy import blur_faces
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

    def __init__(self, output_dir: Path, image_names=(), blur: bool = False):
        self.output_dir = Path(output_dir)
        self.image_names = tuple(image_names)
        self.blur = blur

    def planned(self) -> List[Path]:
        return [self.output_dir / annotated_image_name(name) for name in self.image_names]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        if not frame.corrupt:
            image = blur_faces(frame.image, frame.people.face_xyxy) if self.blur else frame.image
            write_image_atomic(self.output_dir / annotated_image_name(frame.name), draw_people(image, image_people(frame.people)))

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        return {}


class AnnotatedVideo:
    needs_every_frame = True

    def __init__(self, target: Path, zones: Optional[ZoneSet] = None, blur: bool = False):
        self.target = Path(target)
        self.writer = None
        self.clock = None
        self.zones = zones  # in pixels once open
        self.blur = blur
        self.line_counts: Dict[str, Dict[str, int]] = {}  # running in / out counts per line

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        writer = AnnotatedVideoWriter(self.target, info.fps, info.frame_size)
        self.clock = info.clock
        self.writer = BackgroundVideoWriter(writer, info.clock) if info.threaded_writer else writer
        if self.zones is not None:
            self.zones = self.zones.in_pixels(info.frame_size)
            self.line_counts = {line: {"in": 0, "out": 0} for line in self.zones.line_names}

    def _timed(self, stage: str):
        return self.clock(stage) if self.clock is not None else contextlib.nullcontext()

    def write(self, frame: FrameRecord) -> None:
        if frame.corrupt:
            self.writer.repeat_last()
            return
        image, people = frame.image, tracked_people(frame.people)
        if self.blur:
            image = blur_faces(image, frame.people.face_xyxy)
        if self.zones is not None:  # drawn on a copy of the frame: the other sinks still read it
            render = self._with_zones((lambda: draw_people(image, people)) if people else image.copy, frame)
        else:
            render = (lambda: draw_people(image, people)) if people else (lambda: image)
        if isinstance(self.writer, BackgroundVideoWriter):
            self.writer.write(render)
            return
        with self._timed("draw"):
            drawn = render()
        with self._timed("encode"):
            self.writer.write(drawn)

    def _with_zones(self, render, frame: FrameRecord):
        """`render` (which returns a canvas of its own) then the zones and lines on it, with this
        frame's counts (taken now: the drawing may happen later, in the writer's thread)."""
        if frame.analysed:
            for line, counts in crossings_in_frame(frame.people, self.zones.line_names).items():
                self.line_counts[line]["in"] += counts["in"]
                self.line_counts[line]["out"] += counts["out"]
        inside = frame.people.data.get(INSIDE_COLUMN)
        zones = [
            DrawnZone(zone.name, zone.points, 0 if inside is None else int(inside[:, column].sum()))
            for column, zone in enumerate(self.zones.zones)
        ]
        lines = [
            DrawnLine(line.name, line.start, line.end, self.line_counts[line.name]["in"], self.line_counts[line.name]["out"])
            for line in self.zones.lines
        ]
        return lambda: draw_zones(render(), zones, lines)

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
    group.add_argument(
        "--blur-faces",
        action="store_true",
        help="blur every face in the annotated images and video, the crops and the report's gallery",
    )


def _build(options, plan: OutputPlan):
    if not options.draw:
        return None
    if plan.kind == IMAGE_RUN:
        return AnnotatedImages(plan.output_dir, plan.image_names, options.blur_faces)
    return AnnotatedVideo(plan.path(f"out_{plan.name}{OUTPUT_SUFFIX}"), zone_set_of(options), options.blur_faces)


SINK = SinkSpec(name="annotated", runs=(IMAGE_RUN, VIDEO_RUN), add_arguments=_add_arguments, build=_build)
