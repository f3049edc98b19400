"""Zones and lines (--zones FILE, --zone, --line): their flags, and `<name>_events.csv`, one row
per zone entry, zone exit and line crossing of a reported person, in time order: time_s, frame,
id, zone (or empty), line (or empty), event (entry, exit, in, out), and the person's final age
and gender. Written for every video run that declares zones or lines."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Dict, List, Optional

from mivolo.analytics.zones import add_zone_arguments, zone_set_of
from mivolo.core.record import FrameRecord
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.base import VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.values import rounded

COLUMNS = ("time_s", "frame", "id", "zone", "line", "event", "age", "gender")


class ZoneEvents:
    needs_every_frame = False

    def __init__(self, target: Path):
        self.target = Path(target)

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        pass

    def write(self, frame: FrameRecord) -> None:
        pass  # the events of reported people are known once the run is over

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        with atomic_path(self.target) as tmp, tmp.open("w", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(COLUMNS)
            for event in result.zones.events():
                writer.writerow(
                    [round(event.time_s, 3), event.frame, event.person_id, event.zone or "", event.line or "",
                     event.event, "" if event.facts.age is None else rounded(event.facts.age, 2), event.facts.gender or ""]
                )  # fmt: skip
        return {"events_csv": self.target}


def _build(options, plan: OutputPlan):
    return ZoneEvents(plan.path(f"{plan.name}_events.csv")) if zone_set_of(options) is not None else None


SINK = SinkSpec(name="zone_events", runs=(VIDEO_RUN,), add_arguments=add_zone_arguments, build=_build)
