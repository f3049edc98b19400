"""--people-csv: `<name>_people.csv`, one row per reported person of a video: the summary's
per-person entry (id, first and last seen, frames, age with its spread, gender with its score and
vote share, age bucket, best crop) as a table for spreadsheets. With zones or lines declared,
also `zones_visited` (names joined by ';'), per zone `dwell_s_<zone>` and `visits_<zone>`
(`entry-exit` seconds, joined by ';'), and per line `crossings_<line>` (`in@1.5;out@7.2`)."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.crops import crop_names
from mivolo.sinks.summary import people_entries

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


def zone_cells(person: dict, zone_names: List[str], line_names: List[str]) -> Dict[str, object]:
    """A summary person's zones and lines as CSV cells."""
    cells: Dict[str, object] = {"zones_visited": ";".join(person["zones_visited"])}
    for zone in zone_names:
        cells[f"dwell_s_{zone}"] = person["dwell_s"].get(zone, 0.0)
        visits = [v for v in person["zone_visits"] if v["zone"] == zone]
        cells[f"visits_{zone}"] = ";".join(f"{v['entry_s']}-{v['exit_s']}" for v in visits)
    for line in line_names:
        crossings = [c for c in person["line_crossings"] if c["line"] == line]
        cells[f"crossings_{line}"] = ";".join(f"{c['direction']}@{c['time_s']}" for c in crossings)
    return cells


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
        zones = result.zones
        columns = list(COLUMNS)
        if zones is not None:
            columns.append("zones_visited")
            columns += [f"{kind}_{zone}" for zone in zones.zone_names for kind in ("dwell_s", "visits")]
            columns += [f"crossings_{line}" for line in zones.line_names]
        with atomic_path(self.target) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            writer.writeheader()
            for person in people_entries(result, self.target.parent, self.crops):
                if zones is not None:
                    person.update(zone_cells(person, zones.zone_names, zones.line_names))
                writer.writerow(person)
        return {"people_csv": self.target}


def _add_arguments(group) -> None:
    group.add_argument(
        "--people-csv", action="store_true", help="videos: also write OUTPUT/<name>_people.csv, one row per person"
    )


def _build(options, plan: OutputPlan):
    return PeopleCsv(plan.path(f"{plan.name}_people.csv"), crop_names(options, plan)) if options.people_csv else None


SINK = SinkSpec(name="people_csv", runs=(VIDEO_RUN,), add_arguments=_add_arguments, build=_build)
