"""The figures of a video run that come from its reported frames: the most people in one frame,
people by gender over time, and with zones their occupancy over time and peaks.

They are made in one pass over the run's frame log, shared by the summary, the zone figures
and the report: each pass re-reads every frame from disk, which on a long video costs more
than all the zone tests of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Tuple

from mivolo.analytics.zone_summary import GROUPS, Group, Peak, add_occupancy_peaks, frame_occupancy, row_groups
from mivolo.core.demographics import GENDER_GROUPS
from mivolo.core.record import FrameRecord

BIN_S = 1.0  # the time series keep the most of each count seen in each second


class TimeBins:
    """The most of each count seen in each BIN_S seconds: memory grows with the video's
    duration in seconds, not its frames."""

    def __init__(self):
        self.bins: Dict[int, Dict[str, int]] = {}

    def add(self, time_s: float, counts: Dict[str, int]) -> None:
        current = self.bins.setdefault(int(time_s // BIN_S), {})
        for name, count in counts.items():
            current[name] = max(current.get(name, 0), count)

    def series(self, name: str) -> Tuple[List[float], List[int]]:
        seconds = sorted(self.bins)
        return [s * BIN_S for s in seconds], [self.bins[s].get(name, 0) for s in seconds]


@dataclass
class FrameFigures:
    peak_concurrent: int = 0
    people: TimeBins = field(default_factory=TimeBins)  # by gender group
    occupancy: TimeBins = field(default_factory=TimeBins)  # by zone
    zone_peaks: Dict[str, Dict[Group, Peak]] = field(default_factory=dict)  # per zone and group


def frame_figures(frames: Iterable[FrameRecord], zone_names: List[str]) -> FrameFigures:
    figures = FrameFigures(zone_peaks={zone: {group: (0, None) for group in GROUPS} for zone in zone_names})
    for frame in frames:
        people = frame.people
        figures.peak_concurrent = max(figures.peak_concurrent, len(people))
        genders = [row_groups(people, row)[0] for row in range(len(people))]
        figures.people.add(frame.time_s, {group: genders.count(group) for group in GENDER_GROUPS})
        if not zone_names:
            continue
        occupancy = frame_occupancy(people, zone_names)
        figures.occupancy.add(frame.time_s, {zone: counts["occupancy"] for zone, counts in occupancy.items()})
        add_occupancy_peaks(figures.zone_peaks, occupancy, frame.time_s)
    return figures
