"""--people-csv: `<name>_people.csv`, one row per reported person of a video: the summary's
per-person entry (id, first and last seen, frames, age with its spread, gender with its score and
vote share, age bucket, best crop) as a table for spreadsheets."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.crops import crop_names
from mivolo.sinks.summary import person_summary

COLUMNS = (
    "id",
    "first_seen_s",
    "last_seen_s",
    "frames_seen",
    "age",
    "age_spread",
    "gender",
    "gender_score",
    "gender_vote_share",
    "age_bucket",
    "best_crop",
)


class PeopleCsv:
    needs_every_frame = False

    def __init__(self, target: Path, crops):
        self.target = Path(target)
        self.crops = crops

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        pass  # the people are known once the run is over

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        folder = self.target.parent
        with atomic_path(self.target) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=COLUMNS)
            writer.writeheader()
            for track in result.tracks:
                best = None if self.crops is None else self.crops.best(track.best_crop_track)
                writer.writerow(person_summary(track, folder, best))
        return {"people_csv": self.target}


def _add_arguments(group) -> None:
    group.add_argument(
        "--people-csv", action="store_true", help="videos: also write OUTPUT/<name>_people.csv, one row per person"
    )


def _build(options, plan: OutputPlan):
    return PeopleCsv(plan.path(f"{plan.name}_people.csv"), crop_names(options, plan)) if options.people_csv else None


SINK = SinkSpec(name="people_csv", runs=(VIDEO_RUN,), add_arguments=_add_arguments, build=_build)
