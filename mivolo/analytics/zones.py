"""Zones (named polygons) and lines (named, directed segments): declared in a YAML file
(`--zones FILE`) or on the command line (`--zone NAME:x1,y1,x2,y2,...`, `--line NAME:x1,y1,x2,y2`).

A shape whose coordinates all lie between 0 and 1 is in fractions of the frame (x of its width,
y of its height); any other shape is in pixels. The frame's size is only known once the video is
open, so specs are parsed here (light: no supervision, no OpenCV) and resolved to pixels later.

The YAML file:

    anchor: bottom-center          # optional: bottom-center (default), center or top-center
    zones:
      door: [[0.0, 0.5], [0.3, 0.5], [0.3, 1.0], [0.0, 1.0]]
    lines:
      entrance: [[0.5, 0.0], [0.5, 1.0]]   # start, end

Every mistake is one MiVOLOError naming the file (or flag) and the field.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from mivolo.core.errors import MiVOLOError

Point = Tuple[float, float]
ANCHORS = ("bottom-center", "center", "top-center")  # points of the body box (supervision Positions)
DEFAULT_ANCHOR = "bottom-center"
DEFAULT_CONFIRM_FRAMES = 3
NAME = re.compile(r"^[A-Za-z0-9_-]+$")  # names become CSV column names and JSON keys


@dataclass(frozen=True)
class ZoneSpec:
    name: str
    points: Tuple[Point, ...]


@dataclass(frozen=True)
class LineSpec:
    """A directed line: crossing it to the left-hand side of start -> end (as seen on screen)
    counts as "in", to the right-hand side as "out"."""

    name: str
    start: Point
    end: Point


@dataclass(frozen=True)
class ZoneSet:
    """Every declared zone and line, how a person's point is taken, and how many analysed frames
    a person must be seen on the other side of a line, or inside / outside a zone, before it counts."""

    zones: Tuple[ZoneSpec, ...] = ()
    lines: Tuple[LineSpec, ...] = ()
    anchor: str = DEFAULT_ANCHOR
    confirm_frames: int = DEFAULT_CONFIRM_FRAMES

    @property
    def zone_names(self) -> List[str]:
        return [zone.name for zone in self.zones]

    @property
    def line_names(self) -> List[str]:
        return [line.name for line in self.lines]

    def in_pixels(self, frame_size: Tuple[int, int]) -> "ZoneSet":
        """Every shape in pixels of a frame of `frame_size` (width, height)."""
        width, height = frame_size

        def scaled(points: Sequence[Point]) -> Tuple[Point, ...]:
            if all(0.0 <= value <= 1.0 for point in points for value in point):
                return tuple((x * width, y * height) for x, y in points)
            return tuple((float(x), float(y)) for x, y in points)

        zones = tuple(ZoneSpec(zone.name, scaled(zone.points)) for zone in self.zones)
        lines = tuple(LineSpec(line.name, *scaled((line.start, line.end))) for line in self.lines)
        return replace(self, zones=zones, lines=lines)


def _name(value, where: str) -> str:
    if not isinstance(value, str) or not NAME.match(value):
        raise MiVOLOError(f"{where}: a name is letters, digits, '_' or '-', got {value!r}")
    return value


def _points(value, where: str, minimum: int, maximum: Optional[int] = None) -> Tuple[Point, ...]:
    """[[x, y], ...] with between `minimum` and `maximum` points."""
    if not isinstance(value, (list, tuple)) or not all(isinstance(p, (list, tuple)) and len(p) == 2 for p in value):
        raise MiVOLOError(f"{where}: expected a list of [x, y] points, got {value!r}")
    points = []
    for point in value:
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in point):
            raise MiVOLOError(f"{where}: coordinates must be numbers, got {point!r}")
        if min(point) < 0:
            raise MiVOLOError(f"{where}: coordinates cannot be negative, got {point!r}")
        points.append((float(point[0]), float(point[1])))
    if len(points) < minimum or (maximum is not None and len(points) > maximum):
        wanted = f"{minimum}" if maximum == minimum else f"at least {minimum}"
        raise MiVOLOError(f"{where}: needs {wanted} points, got {len(points)}")
    if len(set(points)) < minimum:
        raise MiVOLOError(f"{where}: its points must be distinct")
    return tuple(points)


def load_zones_file(path) -> Tuple[List[ZoneSpec], List[LineSpec], Optional[str]]:
    """The zones, lines and anchor (None: not given) of a YAML zones file."""
    import yaml

    path = Path(path)
    try:
        document = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise MiVOLOError(f"{path}: cannot read the zones file ({exc.strerror or exc})") from exc
    except yaml.YAMLError as exc:
        raise MiVOLOError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    if not isinstance(document, dict):
        raise MiVOLOError(f"{path}: expected a mapping with 'zones' and/or 'lines'")
    unknown = sorted(set(document) - {"zones", "lines", "anchor"})
    if unknown:
        raise MiVOLOError(f"{path}: unknown field {unknown[0]!r} (expected zones, lines, anchor)")
    shapes = {}
    for field in ("zones", "lines"):
        value = document.get(field) or {}
        if not isinstance(value, dict):
            raise MiVOLOError(f"{path}: {field}: expected a mapping of name -> points")
        shapes[field] = value
    zones = [
        ZoneSpec(_name(name, f"{path}: zones"), _points(points, f"{path}: zones.{name}", 3))
        for name, points in shapes["zones"].items()
    ]
    lines = [
        LineSpec(_name(name, f"{path}: lines"), *_points(points, f"{path}: lines.{name}", 2, 2))
        for name, points in shapes["lines"].items()
    ]
    return zones, lines, document.get("anchor")


def _parse_flag(text: str, flag: str, minimum: int, maximum: Optional[int]) -> Tuple[str, Tuple[Point, ...]]:
    """NAME:x1,y1,x2,y2,... of --zone / --line."""
    name, colon, numbers = text.partition(":")
    where = f"{flag} {text}"
    if not colon:
        raise MiVOLOError(f"{where}: expected NAME:x1,y1,x2,y2,...")
    try:
        values = [float(v) for v in numbers.split(",")]
    except ValueError:
        raise MiVOLOError(f"{where}: coordinates must be numbers separated by commas") from None
    if len(values) % 2:
        raise MiVOLOError(f"{where}: expected pairs of coordinates, got {len(values)} numbers")
    return _name(name, where), _points([values[i : i + 2] for i in range(0, len(values), 2)], where, minimum, maximum)


def zone_set(
    zones_file=None,
    zone_flags: Sequence[str] = (),
    line_flags: Sequence[str] = (),
    anchor: Optional[str] = None,
    confirm_frames: int = DEFAULT_CONFIRM_FRAMES,
) -> Optional[ZoneSet]:
    """The declared zones and lines (the file's, then the flags'), None when there are none. The
    --anchor flag wins over the file's anchor."""
    zones: List[ZoneSpec] = []
    lines: List[LineSpec] = []
    file_anchor = None
    if zones_file is not None:
        zones, lines, file_anchor = load_zones_file(zones_file)
    zones += [ZoneSpec(*_parse_flag(text, "--zone", 3, None)) for text in zone_flags]
    lines += [LineSpec(name, *points) for name, points in (_parse_flag(t, "--line", 2, 2) for t in line_flags)]
    if not zones and not lines:
        if zones_file is not None:
            raise MiVOLOError(f"{zones_file}: declares no zones and no lines")
        return None
    names = [shape.name for shape in (*zones, *lines)]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        where = zones_file if zones_file is not None else "--zone/--line"
        raise MiVOLOError(f"{where}: zone and line names must be unique, {', '.join(repeated)} is used twice")
    chosen = anchor or file_anchor or DEFAULT_ANCHOR
    if chosen not in ANCHORS:
        raise MiVOLOError(f"{'--anchor' if anchor else zones_file}: anchor must be one of {', '.join(ANCHORS)}, got {chosen!r}")
    if confirm_frames < 1:
        raise MiVOLOError(f"--crossing-frames must be at least 1, got {confirm_frames}")
    return ZoneSet(tuple(zones), tuple(lines), chosen, confirm_frames)


def add_zone_arguments(group) -> None:
    group.add_argument(
        "--zones", metavar="FILE", help="videos: a YAML file of named zones (polygons) and directed lines (docs/analytics.md)"
    )
    group.add_argument(
        "--zone",
        action="append",
        default=[],
        metavar="NAME:x1,y1,x2,y2,...",
        help="videos: a named zone, a polygon in pixels or fractions of the frame (repeatable)",
    )
    group.add_argument(
        "--line",
        action="append",
        default=[],
        metavar="NAME:x1,y1,x2,y2",
        help="videos: a named line from (x1,y1) to (x2,y2); crossing to its left counts in, to its right out (repeatable)",
    )
    group.add_argument(
        "--anchor",
        choices=ANCHORS,
        default=None,
        help=f"the point of a person's body box (or the body estimated from the face) tested against zones and lines "
        f"(default {DEFAULT_ANCHOR})",
    )
    group.add_argument(
        "--crossing-frames",
        type=int,
        default=DEFAULT_CONFIRM_FRAMES,
        metavar="N",
        help="analysed frames a person must be seen on the other side of a line, or inside / outside a zone, before "
        f"it counts: against jitter (default {DEFAULT_CONFIRM_FRAMES})",
    )


def zone_set_of(options) -> Optional[ZoneSet]:
    """The zones and lines the outputs' options declare (None: none)."""
    return zone_set(options.zones, options.zone, options.line, options.anchor, options.crossing_frames)
