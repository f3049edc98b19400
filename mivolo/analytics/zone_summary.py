"""A run's zone and line figures, from the tracks' visits and crossings and the reported frames.

Occupancy (per frame, and the peaks) counts the people whose point is inside a zone in that
frame, split by each person's answer in that frame, as the per-frame JSON shows them. Visitors,
dwell and crossings are per person (track fragments joined by --reid-merge are one person) and
split by the person's final answer, as the summary's people are.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

from mivolo.analytics.zone_tracker import CROSSING_COLUMN, ENTRY, EXIT, INSIDE_COLUMN, TrackZones
from mivolo.core.demographics import AGE_BUCKETS, GENDER_GROUPS, age_bucket, gender_word
from mivolo.core.record import People, gender_name, optional

UNKNOWN = "unknown"
AGE_GROUPS = tuple(name for name, _, _ in AGE_BUCKETS) + (UNKNOWN,)
# a group of people counts are split by: ("all",), ("by_gender", gender) or ("by_age_bucket", bucket)
Group = Tuple[str, ...]
GROUPS: List[Group] = [("all",)] + [("by_gender", g) for g in GENDER_GROUPS] + [("by_age_bucket", a) for a in AGE_GROUPS]
Peak = Tuple[int, Optional[float]]  # the highest count and the time it was first reached


@dataclass(frozen=True)
class PersonFacts:
    """A reported person's final answer, as the summary states it."""

    age: Optional[float]
    gender: Optional[str]  # "man", "woman" or None

    @property
    def groups(self) -> Tuple[str, str]:
        return self.gender or UNKNOWN, age_bucket(self.age) or UNKNOWN


def facts_of(track) -> PersonFacts:
    """The facts of a reported TrackHistory."""
    estimate = track.estimate()
    return PersonFacts(estimate.age, gender_word(estimate.gender))


def row_groups(people: People, row: int) -> Tuple[str, str]:
    """(gender group, age group) of a row by the track's answer in that frame."""
    return PersonFacts(optional(people.track_age[row]), gender_word(gender_name(people.track_gender[row]))).groups


def frame_occupancy(people: People, zone_names: List[str]) -> Dict[str, dict]:
    """Per zone: `occupancy`, the people inside in this frame, and their count `by_gender` and
    `by_age_bucket`."""
    inside = people.data.get(INSIDE_COLUMN)
    counts = {
        zone: {"occupancy": 0, "by_gender": dict.fromkeys(GENDER_GROUPS, 0), "by_age_bucket": dict.fromkeys(AGE_GROUPS, 0)}
        for zone in zone_names
    }
    if inside is None:
        return counts
    for row in range(len(people)):
        gender, age = row_groups(people, row)
        for column, zone in enumerate(zone_names):
            if inside[row, column]:
                counts[zone]["occupancy"] += 1
                counts[zone]["by_gender"][gender] += 1
                counts[zone]["by_age_bucket"][age] += 1
    return counts


@dataclass(frozen=True)
class ZoneEvent:
    time_s: float
    frame: int
    person_id: int
    zone: Optional[str]
    line: Optional[str]
    event: str  # ENTRY / EXIT for a zone, IN / OUT for a line
    facts: PersonFacts


def _dwell_figures(dwells: List[float], peak: Tuple[int, Optional[float]]) -> dict:
    return {
        "unique_visitors": len(dwells),
        "mean_dwell_s": round(statistics.fmean(dwells), 3) if dwells else None,
        "median_dwell_s": round(statistics.median(dwells), 3) if dwells else None,
        "peak_occupancy": peak[0],
        "peak_time_s": None if peak[1] is None else round(peak[1], 3),
    }


@dataclass
class ZoneReport:
    """Everything the outputs say about zones and lines."""

    zone_names: List[str]
    line_names: List[str]
    people: Dict[int, TrackZones]  # reported person ID -> their visits and crossings
    facts: Dict[int, PersonFacts]
    zones: Dict[str, dict] = field(default_factory=dict)  # per zone: visitors, dwell, peak, and by group
    lines: Dict[str, dict] = field(default_factory=dict)  # per line: in, out, and by group

    def events(self) -> List[ZoneEvent]:
        """Every entry, exit and crossing of the reported people, in time order."""
        found = []
        for person_id, zones in self.people.items():
            facts = self.facts[person_id]
            for visit in zones.visits:
                found.append(ZoneEvent(visit.entry_s, visit.entry_frame, person_id, visit.zone, None, ENTRY, facts))
                found.append(ZoneEvent(visit.exit_s, visit.exit_frame, person_id, visit.zone, None, EXIT, facts))
            for crossing in zones.crossings:
                found.append(
                    ZoneEvent(crossing.time_s, crossing.frame, person_id, None, crossing.line, crossing.direction, facts)
                )
        return sorted(found, key=lambda e: (e.frame, e.person_id, e.zone or "", e.line or "", e.event != ENTRY))

    def person_entry(self, person_id: int) -> dict:
        """What the summary says of one person's zones and lines."""
        zones = self.people.get(person_id, TrackZones())
        return {
            "zones_visited": zones.zones_visited,
            "dwell_s": {zone: round(zones.dwell_s(zone), 3) for zone in zones.zones_visited},
            "zone_visits": [
                {"zone": v.zone, "entry_s": round(v.entry_s, 3), "exit_s": round(v.exit_s, 3), "dwell_s": round(v.dwell_s, 3)}
                for v in zones.visits
            ],
            "line_crossings": [
                {"line": c.line, "direction": c.direction, "time_s": round(c.time_s, 3)} for c in zones.crossings
            ],
        }


def joined_by_person(tracks: Dict[int, TrackZones], person_of_track: Optional[Dict[int, int]]) -> Dict[int, TrackZones]:
    """Each person's visits and crossings: those of all their track fragments, in time order."""
    people: Dict[int, TrackZones] = {}
    for track_id, zones in tracks.items():
        person = people.setdefault((person_of_track or {}).get(track_id, track_id), TrackZones())
        person.visits += zones.visits
        person.crossings += zones.crossings
    for person in people.values():
        person.visits.sort(key=lambda v: (v.entry_s, v.zone))
        person.crossings.sort(key=lambda c: (c.time_s, c.line))
    return people


def add_occupancy_peaks(peaks: Dict[str, Dict[Group, Peak]], occupancy: Dict[str, dict], time_s: float) -> None:
    """Raise each zone's and group's peak to a frame's occupancy (`frame_occupancy`) where it is higher."""
    for zone, counts in occupancy.items():
        for group in GROUPS:
            count = counts["occupancy"] if group == ("all",) else counts[group[0]][group[1]]
            if count > peaks[zone][group][0]:
                peaks[zone][group] = (count, time_s)


def summarise(
    zone_names: List[str],
    line_names: List[str],
    tracks: Dict[int, TrackZones],
    facts: Dict[int, PersonFacts],
    peaks: Dict[str, Dict[Group, Peak]],
    person_of_track: Optional[Dict[int, int]] = None,
) -> ZoneReport:
    """The run's figures; `facts` holds the reported people (by person ID), `peaks` the zones'
    occupancy peaks over the reported frames (mivolo.analytics.run_figures)."""
    joined = joined_by_person(tracks, person_of_track)
    people = {person_id: joined.get(person_id, TrackZones()) for person_id in facts}
    report = ZoneReport(zone_names, line_names, people, facts)
    groups = GROUPS

    def person_groups(person_id: int):
        gender, age = facts[person_id].groups
        return ("all",), ("by_gender", gender), ("by_age_bucket", age)

    def split(figures: Dict[tuple, dict]) -> dict:
        return {
            **figures[("all",)],
            "by_gender": {g: figures[("by_gender", g)] for g in GENDER_GROUPS},
            "by_age_bucket": {a: figures[("by_age_bucket", a)] for a in AGE_GROUPS},
        }

    for zone in zone_names:
        dwells = {group: [] for group in groups}
        for person_id, zones in people.items():
            if zone in zones.zones_visited:
                for group in person_groups(person_id):
                    dwells[group].append(zones.dwell_s(zone))
        report.zones[zone] = split({group: _dwell_figures(dwells[group], peaks[zone][group]) for group in groups})
    for line in line_names:
        counts = {group: {"in": 0, "out": 0} for group in groups}
        for person_id, zones in people.items():
            for crossing in zones.crossings:
                if crossing.line == line:
                    for group in person_groups(person_id):
                        counts[group][crossing.direction] += 1
        report.lines[line] = split(counts)
    return report


def crossings_in_frame(people: People, line_names: List[str]) -> Dict[str, Dict[str, int]]:
    """Per line, the people who crossed in and out in this frame (the annotated video's running counts)."""
    codes = people.data.get(CROSSING_COLUMN)
    found = {line: {"in": 0, "out": 0} for line in line_names}
    if codes is not None:
        for column, line in enumerate(line_names):
            found[line]["in"] += int((codes[:, column] > 0).sum())
            found[line]["out"] += int((codes[:, column] < 0).sum())
    return found
