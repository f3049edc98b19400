"""--save-crops: person crops (the display box: the body, else the face).

Videos, in CROPS_DIR/<video name>/: `best_<id>.jpg`, each track's crop from the frame of its
best prediction so far (highest 0.7 x detection conf + 0.3 x gender conf; the first frame a
track is seen until it has one), and with --crop-every K also `<id>_<frame>.jpg` for every K-th
analysed frame of each track. Images, in CROPS_DIR/images/: `<image name>_<person>.jpg`.

The names are decided by `CropNames` alone, so the JSON outputs can point at a person's crop
without asking this sink: a crop is never empty (a degenerate box still gives one pixel).

--no-face-crops cuts every crop from the body box, or the body estimated from the face for a
face-only person, never from the face box alone; --blur-faces blurs the faces in every crop.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional

import numpy as np

from mivolo.core.geometry import clamp_boxes
from mivolo.core.privacy import blur_faces
from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import write_image_atomic
from mivolo.sinks.base import IMAGE_RUN, VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec

IMAGE_CROPS_FOLDER = "images"


@dataclass(frozen=True)
class CropNames:
    """Where a run's crops go and what each is called."""

    folder: Path
    every: int = 0  # also a crop every `every`-th analysed frame of a track (0: only the best)

    def best(self, track_id: int) -> Path:
        return self.folder / f"best_{track_id}.jpg"

    def due(self, track_frames: int) -> bool:
        """Whether the track's `track_frames`-th analysed frame gets its own crop."""
        return self.every > 0 and (track_frames - 1) % self.every == 0

    def of_frame(self, track_id: int, frame_index: int) -> Path:
        return self.folder / f"{track_id}_{frame_index}.jpg"

    def shown(self, track_id: int, frame_index: int, track_frames: int) -> Path:
        """The crop the per-frame JSON shows for a track in a frame: that frame's, else the best."""
        return self.of_frame(track_id, frame_index) if self.due(track_frames) else self.best(track_id)

    def of_image_person(self, image_name: str, row: int) -> Path:
        return self.folder / f"{image_name}_{row}.jpg"


def crops_root(options, output_dir: Path) -> Optional[Path]:
    """The folder holding every run's crops when crops are asked for (--save-crops), else None."""
    if not options.save_crops:
        return None
    return Path(options.crops_dir) if options.crops_dir else Path(output_dir) / "crops"


def crop_names(options, plan: OutputPlan) -> Optional[CropNames]:
    """The run's CropNames when crops are asked for (--save-crops), else None."""
    root = crops_root(options, plan.output_dir)
    if root is None:
        return None
    subfolder = IMAGE_CROPS_FOLDER if plan.kind == IMAGE_RUN else plan.name
    return CropNames(root / subfolder, options.crop_every if plan.kind == VIDEO_RUN else 0)


def crop(image: np.ndarray, box) -> np.ndarray:
    """The box's pixels (int box clamped to the image as for MiVOLO's crops), at least one pixel
    wide and tall."""
    x1, y1, x2, y2 = clamp_boxes(np.asarray(box, dtype=np.float64).astype(np.int32), *image.shape[:2])[0]
    return image[y1 : max(y2, y1 + 1), x1 : max(x2, x1 + 1)]


def crop_boxes(people, body_only: bool) -> np.ndarray:
    """The box each person's crop is cut from: the display box, or with `body_only` the body
    (estimated from the face for a face-only person)."""
    return people.tracking_xyxy if body_only else people.display_xyxy


class Crops:
    needs_every_frame = False

    def __init__(self, names: CropNames, body_only: bool = False, blur: bool = False):
        self.names = names
        self.body_only = body_only
        self.blur = blur
        self._has_best = set()  # tracks whose best crop exists

    def planned(self) -> List[Path]:
        return []  # the crops' names depend on the people found

    def planned_folders(self) -> List[Path]:
        return [self.names.folder]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        if not frame.analysed or frame.corrupt:
            return
        people, boxes = frame.people, crop_boxes(frame.people, self.body_only)
        image = blur_faces(frame.image, people.face_xyxy) if self.blur else frame.image
        if frame.name is not None:  # an image of an image run
            for row in range(len(people)):
                write_image_atomic(self.names.of_image_person(frame.name, row), crop(image, boxes[row]))
            return
        for row in range(len(people)):
            track_id = int(people.track_id[row])
            if people.best_so_far[row] or track_id not in self._has_best:
                write_image_atomic(self.names.best(track_id), crop(image, boxes[row]))
                self._has_best.add(track_id)
            if self.names.due(int(people.track_frames[row])):
                write_image_atomic(self.names.of_frame(track_id, frame.index), crop(image, boxes[row]))

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        return {"crops_dir": self.names.folder}


def _add_arguments(group) -> None:
    group.add_argument(
        "--save-crops",
        action="store_true",
        help="save person crops: per video each person's best crop as best_<id>.jpg (and <id>_<frame>.jpg with "
        "--crop-every); per image run <image>_<person>.jpg in crops/images",
    )
    group.add_argument("--crops-dir", metavar="DIR", help="where crops go (default OUTPUT/crops/<name>)")
    group.add_argument(
        "--crop-every",
        type=int,
        default=0,
        metavar="K",
        help="videos, with --save-crops: also save <id>_<frame>.jpg every K-th analysed frame of a track",
    )
    group.add_argument(
        "--no-face-crops",
        action="store_true",
        help="cut crops (and the report's gallery) from body boxes only, the body estimated from the face for a "
        "face-only person: no close-up of a face",
    )


def _build(options, plan: OutputPlan):
    names = crop_names(options, plan)
    return None if names is None else Crops(names, options.no_face_crops, options.blur_faces)


SINK = SinkSpec(name="crops", runs=(IMAGE_RUN, VIDEO_RUN), add_arguments=_add_arguments, build=_build)
