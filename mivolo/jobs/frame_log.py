"""A video run's memory of its analysed frames: one JSON line per frame in a hidden file next to
the outputs, so memory stays flat however long the video. At the end the sinks that need the
whole run (per-frame JSON, MOT file, summary) read it back through `reported_frames`.

The file is created with a unique name and O_EXCL (tempfile), so it can neither clash with a
second run into the same folder nor be redirected by a planted link.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Dict, Iterator, Optional

import numpy as np

from mivolo.analytics.zone_tracker import CROSSING_COLUMN, INSIDE_COLUMN
from mivolo.core.errors import MiVOLOError
from mivolo.core.record import FrameRecord, People, gender_code
from mivolo.tracking.aggregation import Estimate

# what the end-of-run sinks read; boxes are kept at float32 precision, so they read back exactly
LOGGED_COLUMNS = (
    "track_id",
    "track_xyxy",
    "body_xyxy",
    "face_xyxy",
    "confidence",
    "track_age",
    "track_gender",
    "track_gender_score",
    "track_vote_share",
    "track_frames",
)
# extension columns kept when a frame has them (zones and lines declared), with their dtypes
LOGGED_DATA = {INSIDE_COLUMN: bool, CROSSING_COLUMN: np.int8}


class FrameLog:
    def __init__(self, folder: Path, name: str):
        try:
            descriptor, path = tempfile.mkstemp(prefix=f".{name}.frames.", suffix=".jsonl", dir=folder)
        except OSError as exc:
            raise MiVOLOError(f"{folder}: cannot keep the run's frame log there ({exc.strerror or exc})") from exc
        self.path = Path(path)
        self._file = os.fdopen(descriptor, "w", buffering=1)  # line-buffered: each frame is on disk once analysed

    def append(self, frame: FrameRecord) -> None:
        people = frame.people
        columns = {name: getattr(people, name).tolist() for name in LOGGED_COLUMNS}
        line = {"frame": frame.index, "time_s": frame.time_s, "people": columns}
        data = {name: people.data[name].tolist() for name in LOGGED_DATA if name in people.data}
        if data and len(people):  # a frame without people has nothing in any zone
            line["data"] = data
        try:
            self._file.write(json.dumps(line) + "\n")
        except OSError as exc:  # a full disk: the run stops with what it has
            raise MiVOLOError(f"{self.path.parent}: cannot keep the run's frame log ({exc.strerror or exc})") from exc

    def close(self) -> None:
        if not self._file.closed:
            try:
                self._file.close()
            except OSError:  # the last line could not be flushed: append has already said so
                pass

    def frames(self) -> Iterator[FrameRecord]:
        self.close()
        with self.path.open() as lines:
            for line in lines:
                raw = json.loads(line)
                columns, n = raw["people"], len(raw["people"]["track_id"])
                data = {name: np.array(values, LOGGED_DATA[name]).reshape(n, -1) for name, values in raw.get("data", {}).items()}
                yield FrameRecord(raw["frame"], raw["time_s"], None, People.create(n, data=data, **columns))

    def discard(self) -> None:
        self.close()
        self.path.unlink(missing_ok=True)


def reported_frames(
    log: FrameLog, final: Dict[int, Estimate], use_final: bool, person_of_track: Optional[Dict[int, int]] = None
) -> Iterator[FrameRecord]:
    """The logged frames with only reported people. `person_of_track` (from --reid-merge) renames
    each track to its person's ID first; `final` is keyed by those IDs. With `use_final` (global
    smoothing) every person shows their track's final estimate."""
    for frame in log.frames():
        people = frame.people
        if person_of_track:
            people = people.with_columns(
                track_id=np.array([person_of_track.get(int(t), int(t)) for t in people.track_id], np.int64)
            )
        people = people[np.array([int(t) in final for t in people.track_id], dtype=bool)]
        if use_final:
            estimates = [final[int(t)] for t in people.track_id]
            people = people.with_columns(
                track_age=np.array([np.nan if e.age is None else e.age for e in estimates], np.float64),
                track_gender=np.array([gender_code(e.gender) for e in estimates], np.int8),
                track_gender_score=np.array([np.nan if e.gender_score is None else e.gender_score for e in estimates]),
                track_vote_share=np.array([np.nan if e.gender_vote_share is None else e.gender_vote_share for e in estimates]),
            )
        yield FrameRecord(frame.index, frame.time_s, None, people)
