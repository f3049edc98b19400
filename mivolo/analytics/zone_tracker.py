"""Zones and lines over a video: each analysed frame's people in, each track's visits and
crossings out.

Per frame, `ZoneTracker.update` adds two columns to the People record (and so to the run's frame
log): which zones each person's point is inside (`INSIDE_COLUMN`) and which lines they crossed in
this frame (`CROSSING_COLUMN`). Zones are supervision's `PolygonZone` masks, all looked up at
once with the frame's points rounded as `PolygonZone.trigger` rounds them (calling trigger zone
by zone costs some 0.3 ms a frame each, a few percent of a fast run). Crossings are its
`LineZone`, whose `minimum_crossing_threshold` counts a passage only once the person has been seen
`confirm_frames` analysed frames on the new side: someone standing on a line and jittering
crosses nothing. Zone visits are debounced the same way: a visit starts once the person has been
seen inside for `confirm_frames` frames in a row (its entry is the first of them) and ends once
seen outside for as many (its exit is the last frame seen inside), or when the track ends.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

import numpy as np

from mivolo.analytics.anchors import anchor_points, anchor_position, person_boxes, person_detections
from mivolo.analytics.zones import ZoneSet
from mivolo.core.record import People

INSIDE_COLUMN = "zones_inside"  # N x Z bool: the person's point is inside each zone in this frame
CROSSING_COLUMN = "line_crossings"  # N x L int8: IN_CODE, OUT_CODE or 0 for each line in this frame
IN_CODE, OUT_CODE = 1, -1
IN, OUT, ENTRY, EXIT = "in", "out", "entry", "exit"


@dataclass(frozen=True)
class Visit:
    zone: str
    entry_s: float
    exit_s: float  # the last moment seen inside
    entry_frame: int
    exit_frame: int

    @property
    def dwell_s(self) -> float:
        return self.exit_s - self.entry_s


@dataclass(frozen=True)
class Crossing:
    line: str
    direction: str  # IN or OUT
    time_s: float  # the frame that confirmed it (confirm_frames on the new side)
    frame: int


@dataclass
class _Presence:
    """One track in one zone: whether a visit is open, and the run of frames contradicting that."""

    visiting: bool = False
    run: int = 0  # consecutive frames seen on the other side of the zone's edge than `visiting` says
    run_start: Tuple[int, float] = (0, 0.0)
    entry: Tuple[int, float] = (0, 0.0)
    last_inside: Tuple[int, float] = (0, 0.0)

    def see(self, inside: bool, frame: int, time_s: float, confirm: int, zone: str) -> Optional[Visit]:
        """One frame the track is seen in; the visit it closes, if any."""
        if inside:
            self.last_inside = (frame, time_s)
        if inside == self.visiting:
            self.run = 0
            return None
        if self.run == 0:
            self.run_start = (frame, time_s)
        self.run += 1
        if self.run < confirm:
            return None
        self.run = 0
        self.visiting = inside
        if inside:
            self.entry = self.run_start
            return None
        return self.closed(zone)

    def closed(self, zone: str) -> Visit:
        return Visit(zone, self.entry[1], self.last_inside[1], self.entry[0], self.last_inside[0])


@dataclass
class TrackZones:
    """What one track (or one person, fragments joined) did with the zones and lines."""

    visits: List[Visit] = field(default_factory=list)
    crossings: List[Crossing] = field(default_factory=list)

    def dwell_s(self, zone: str) -> float:
        return sum(visit.dwell_s for visit in self.visits if visit.zone == zone)

    @property
    def zones_visited(self) -> List[str]:
        return list(dict.fromkeys(visit.zone for visit in self.visits))


class ZoneTracker:
    """Feed it every analysed frame's tracked people in order (`update`), then `finish`."""

    def __init__(self, zones: ZoneSet):
        """`zones` in pixels (ZoneSet.in_pixels)."""
        import supervision as sv

        self.zones = zones
        position = anchor_position(zones.anchor)
        masks = [sv.PolygonZone(np.round(np.array(zone.points)).astype(np.int64)).mask for zone in zones.zones]
        height = max((mask.shape[0] for mask in masks), default=1)
        width = max((mask.shape[1] for mask in masks), default=1)
        self._masks = np.zeros((height, width, len(masks)), bool)  # pixel -> inside each zone
        for column, mask in enumerate(masks):
            self._masks[: mask.shape[0], : mask.shape[1], column] = mask
        self._lines = [
            sv.LineZone(
                sv.Point(*line.start),
                sv.Point(*line.end),
                triggering_anchors=(position,),
                minimum_crossing_threshold=zones.confirm_frames,
            )
            for line in zones.lines
        ]
        self._presence: Dict[Tuple[int, str], _Presence] = {}
        self.tracks: Dict[int, TrackZones] = {}

    def update(self, people: People, frame: int, time_s: float) -> People:
        """The frame's people with INSIDE_COLUMN and CROSSING_COLUMN; each track's state advanced."""
        n = len(people)
        inside = np.zeros((n, self._masks.shape[2]), bool)
        crossings = np.zeros((n, len(self._lines)), np.int8)
        boxes = person_boxes(people)
        if n:
            if self._masks.shape[2]:
                x, y = np.rint(anchor_points(boxes, self.zones.anchor)).astype(int).T
                height, width = self._masks.shape[:2]
                on_mask = (x >= 0) & (y >= 0) & (x < width) & (y < height)
                inside = self._masks[np.clip(y, 0, height - 1), np.clip(x, 0, width - 1)] & on_mask[:, None]
            detections = person_detections(boxes, people.track_id) if self._lines else None
            for column, line in enumerate(self._lines):
                crossed_in, crossed_out = line.trigger(detections)
                crossings[crossed_in, column] = IN_CODE
                crossings[crossed_out, column] = OUT_CODE
        else:
            for line in self._lines:  # ages the lines' memory of tracks no longer seen
                line.trigger(person_detections(boxes, people.track_id))
        for row, track_id in enumerate(int(t) for t in people.track_id):
            track = self.tracks.setdefault(track_id, TrackZones())
            for column, zone in enumerate(self.zones.zones):
                presence = self._presence.setdefault((track_id, zone.name), _Presence())
                visit = presence.see(bool(inside[row, column]), frame, time_s, self.zones.confirm_frames, zone.name)
                if visit is not None:
                    track.visits.append(visit)
            for column, line in enumerate(self.zones.lines):
                if crossings[row, column]:
                    direction = IN if crossings[row, column] == IN_CODE else OUT
                    track.crossings.append(Crossing(line.name, direction, time_s, frame))
        data = {**people.data, INSIDE_COLUMN: inside, CROSSING_COLUMN: crossings}
        return people.with_columns(data=data)

    def finish(self) -> Dict[int, TrackZones]:
        """Every track's visits (those still open end at the last frame seen inside), by track ID."""
        for (track_id, zone), presence in self._presence.items():
            if presence.visiting:
                self.tracks[track_id].visits.append(presence.closed(zone))
                presence.visiting = False
        for track in self.tracks.values():
            track.visits.sort(key=lambda visit: (visit.entry_s, visit.zone))
        return self.tracks
