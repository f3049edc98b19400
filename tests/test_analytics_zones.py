"""Zones and lines on scripted tracks, every entry, exit, dwell and crossing computed by hand.

The frame is 200 x 100 px at 10 analysed frames a second (frame f is at f / 10 s). A walking
person is a body box (x - 5, 20, x + 5, 50): their point (bottom centre) is (x, 50). The door is
the rectangle x 80..120, the hall x 100..199 (both y 10..90), and the gate the line x = 100 from
top to bottom: walking to the right crosses it "in" (the left-hand side of top -> bottom, on
screen). Visits and crossings need 3 frames in a row (the default `--crossing-frames`).
"""

import numpy as np
import pytest

from mivolo.analytics.anchors import anchor_points, anchor_position, person_boxes
from mivolo.analytics.run_figures import frame_figures
from mivolo.analytics.zone_summary import PersonFacts, frame_occupancy, summarise
from mivolo.analytics.zone_tracker import IN, OUT, ZoneTracker
from mivolo.analytics.zones import ANCHORS, LineSpec, ZoneSet, ZoneSpec, zone_set
from mivolo.core.errors import MiVOLOError
from mivolo.core.record import FrameRecord, People, gender_code

DOOR = ZoneSpec("door", ((80, 10), (120, 10), (120, 90), (80, 90)))
HALL = ZoneSpec("hall", ((100, 10), (199, 10), (199, 90), (100, 90)))
LOW = ZoneSpec("low", ((0, 60), (199, 60), (199, 90), (0, 90)))
GATE = LineSpec("gate", (100, 0), (100, 100))
SCENE = ZoneSet(zones=(DOOR, HALL), lines=(GATE,))


def people(positions, face_only=(), age=30.0, gender="male"):
    """One frame: {track ID: x}; tracks in `face_only` are seen by a face (x - 5, 10, x + 5, 20) alone."""
    ids = sorted(positions)
    body = [[np.nan] * 4 if t in face_only else [positions[t] - 5, 20, positions[t] + 5, 50] for t in ids]
    face = [[positions[t] - 5, 10, positions[t] + 5, 20] if t in face_only else [np.nan] * 4 for t in ids]
    n = len(ids)
    return People.create(
        n, body_xyxy=body, face_xyxy=face, track_id=ids, track_age=np.full(n, age),
        track_gender=np.full(n, gender_code(gender)),
    )  # fmt: skip


def walk(zones, frames, **kwargs):
    """Run the tracker over frames of {track ID: x}; (tracker's tracks, frame records)."""
    tracker = ZoneTracker(zones)
    records = []
    for index, positions in enumerate(frames):
        records.append(FrameRecord(index, index / 10, None, tracker.update(people(positions, **kwargs), index, index / 10)))
    return tracker.finish(), records


def visits(track):
    return [(v.zone, round(v.entry_s, 3), round(v.exit_s, 3), round(v.dwell_s, 3)) for v in track.visits]


def crossings(track):
    return [(c.line, c.direction, round(c.time_s, 3)) for c in track.crossings]


def test_a_person_walking_through_a_doorway_and_back():
    there = [25 + 10 * f for f in range(16)]  # 25 .. 175: inside the door at frames 6-9 (85 .. 115)
    back = [175 - 10 * f for f in range(1, 13)]  # frames 16-27, 165 .. 55: inside the door at 21-24
    tracks, _ = walk(SCENE, [{1: x} for x in there + back])
    assert visits(tracks[1]) == [
        ("door", 0.6, 0.9, 0.3),  # in at frame 6 (confirmed at 8), last inside at 9 (outside 10-12)
        ("hall", 0.8, 2.2, 1.4),  # x > 100 from frame 8 to frame 22
        ("door", 2.1, 2.4, 0.3),
    ]
    # over the gate between frames 7 (95) and 8 (105), confirmed at 10; back between 22 and 23, confirmed at 25
    assert crossings(tracks[1]) == [("gate", IN, 1.0), ("gate", OUT, 2.5)]
    assert tracks[1].dwell_s("door") == pytest.approx(0.6)
    assert tracks[1].zones_visited == ["door", "hall"]


def test_a_person_jittering_on_the_line_crosses_once_when_they_really_pass():
    jitter = [97 if f % 2 == 0 else 103 for f in range(20)]  # the point hops over the gate every frame
    walk_on = [130] * 6  # frames 20-25 on the right for good
    tracks, _ = walk(SCENE, [{2: x} for x in jitter + walk_on])
    # on the right from frame 19 (103): confirmed at 21; the hall (x >= 100) likewise entered at 19, open at the end
    assert crossings(tracks[2]) == [("gate", IN, 2.1)]
    # the door holds both hops: in from frame 0, out once at 130 (frames 20-22), last inside at 19
    assert visits(tracks[2]) == [("door", 0.0, 1.9, 1.9), ("hall", 1.9, 2.5, 0.6)]


def test_without_the_confirmation_every_hop_over_the_line_counts():
    """The same jitter with --crossing-frames 1: the threshold is what keeps the count at one."""
    jitter = [97 if f % 2 == 0 else 103 for f in range(20)]
    tracks, _ = walk(ZoneSet(zones=(DOOR,), lines=(GATE,), confirm_frames=1), [{2: x} for x in jitter])
    assert len(tracks[2].crossings) == 19


def test_two_people_entering_together():
    path = [65 + 10 * f for f in range(8)]  # inside the door at frames 2-5 (85 .. 115)
    tracker = ZoneTracker(ZoneSet(zones=(DOOR,)))
    records = []
    for f, x in enumerate(path):
        man, woman = people({3: x}, age=34.0), people({4: x}, age=52.0, gender="female")
        both = People.create(
            2, body_xyxy=np.vstack([man.body_xyxy, woman.body_xyxy]), track_id=[3, 4], track_age=[34.0, 52.0],
            track_gender=[gender_code("male"), gender_code("female")],
        )  # fmt: skip
        records.append(FrameRecord(f, f / 10, None, tracker.update(both, f, f / 10)))
    tracks = tracker.finish()
    assert visits(tracks[3]) == visits(tracks[4]) == [("door", 0.2, 0.5, 0.3)]
    assert frame_occupancy(records[2].people, ["door"])["door"]["occupancy"] == 2
    assert frame_occupancy(records[2].people, ["door"])["door"]["by_gender"] == {"man": 1, "woman": 1, "unknown": 0}
    assert frame_occupancy(records[1].people, ["door"])["door"]["occupancy"] == 0
    facts = {3: PersonFacts(34.0, "man"), 4: PersonFacts(52.0, "woman")}
    report = summarise(["door"], [], tracks, facts, frame_figures(records, ["door"]).zone_peaks)
    door = report.zones["door"]
    assert (door["unique_visitors"], door["mean_dwell_s"], door["median_dwell_s"]) == (2, 0.3, 0.3)
    assert (door["peak_occupancy"], door["peak_time_s"]) == (2, 0.2)
    assert door["by_gender"]["man"]["unique_visitors"] == door["by_gender"]["woman"]["unique_visitors"] == 1
    assert door["by_gender"]["woman"]["peak_occupancy"] == 1
    assert door["by_age_bucket"]["age_thirty"]["unique_visitors"] == 1
    assert door["by_age_bucket"]["age_fifty"]["mean_dwell_s"] == 0.3
    assert door["by_age_bucket"]["age_twenty"] == {
        "unique_visitors": 0, "mean_dwell_s": None, "median_dwell_s": None, "peak_occupancy": 0, "peak_time_s": None,
    }  # fmt: skip
    events = [(e.time_s, e.person_id, e.zone, e.event) for e in report.events()]
    assert events == [(0.2, 3, "door", "entry"), (0.2, 4, "door", "entry"), (0.5, 3, "door", "exit"), (0.5, 4, "door", "exit")]


def test_a_face_only_person_is_placed_by_the_body_estimated_from_the_face():
    """Face (45, 10, 55, 20): the estimated body spans y 5 .. 75 (7 face heights from half a face
    above it), so its bottom centre (50, 75) is in the low zone (y 60..90); the face's own bottom
    (y 20) and the body's centre (y 40) are not."""
    frames = [{5: 50}] * 4
    tracks, _ = walk(ZoneSet(zones=(LOW,)), frames, face_only=(5,))
    assert visits(tracks[5]) == [("low", 0.0, 0.3, 0.3)]
    centred, _ = walk(ZoneSet(zones=(LOW,), anchor="center"), frames, face_only=(5,))
    assert visits(centred[5]) == []


def test_line_counts_in_the_summary_follow_each_persons_final_answer():
    there = [25 + 10 * f for f in range(16)]
    back = [175 - 10 * f for f in range(1, 13)]
    tracks, records = walk(SCENE, [{1: x} for x in there + back])
    peaks = frame_figures(records, ["door", "hall"]).zone_peaks
    report = summarise(["door", "hall"], ["gate"], tracks, {1: PersonFacts(67.0, "woman")}, peaks)
    gate = report.lines["gate"]
    assert (gate["in"], gate["out"]) == (1, 1)
    assert gate["by_gender"] == {"man": {"in": 0, "out": 0}, "woman": {"in": 1, "out": 1}, "unknown": {"in": 0, "out": 0}}
    assert gate["by_age_bucket"]["age_sixty"] == {"in": 1, "out": 1}
    assert report.zones["door"]["mean_dwell_s"] == 0.6  # one visitor, two visits of 0.3 s
    assert report.person_entry(1)["dwell_s"] == {"door": 0.6, "hall": 1.4}


# ---- declaring zones ---------------------------------------------------------------------------


def test_a_zones_file_in_fractions_and_pixels(tmp_path):
    path = tmp_path / "zones.yaml"
    path.write_text(
        "anchor: center\nzones:\n  door: [[0, 0.5], [0.5, 0.5], [0.5, 1]]\n  till: [[10, 10], [50, 10], [50, 40]]\n"
        "lines:\n  gate: [[0.25, 0], [0.25, 1]]\n"
    )
    declared = zone_set(path)
    assert declared.anchor == "center" and declared.zone_names == ["door", "till"] and declared.line_names == ["gate"]
    pixels = declared.in_pixels((200, 100))
    assert pixels.zones[0].points == ((0, 50), (100, 50), (100, 100))
    assert pixels.zones[1].points == ((10, 10), (50, 10), (50, 40))  # not all within 0..1: pixels already
    assert (pixels.lines[0].start, pixels.lines[0].end) == ((50, 0), (50, 100))


def test_zones_and_lines_on_the_command_line():
    declared = zone_set(None, ["door:0,0,10,0,10,10"], ["gate:5,0,5,10"], "top-center", 2)
    assert declared.zones == (ZoneSpec("door", ((0, 0), (10, 0), (10, 10))),)
    assert declared.lines == (LineSpec("gate", (5, 0), (5, 10)),)
    assert (declared.anchor, declared.confirm_frames) == ("top-center", 2)
    assert zone_set(None, [], []) is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("zones:\n  door: [[0, 0], [1, 1]]\n", "zones.yaml: zones.door: needs at least 3 points, got 2"),
        ("lines:\n  gate: [[0, 0], [1, 1], [1, 0]]\n", "zones.yaml: lines.gate: needs 2 points, got 3"),
        ("zones:\n  door: [[0, 0], [a, 1], [1, 0]]\n", "zones.yaml: zones.door: coordinates must be numbers"),
        ("zones:\n  my door: [[0, 0], [0, 1], [1, 0]]\n", "zones.yaml: zones: a name is letters"),
        ("zone:\n  door: []\n", "zones.yaml: unknown field 'zone'"),
        ("zones: [1, 2]\n", "zones.yaml: zones: expected a mapping"),
        ("zones:\n  a: [[0, 0], [0, 1], [1, 0]]\nlines:\n  a: [[0, 0], [1, 1]]\n", "a is used twice"),
        ("anchor: feet\nzones:\n  a: [[0, 0], [0, 1], [1, 0]]\n", "anchor must be one of"),
        ("{}\n", "declares no zones and no lines"),
    ],
)
def test_a_bad_zones_file_is_one_line_naming_the_field(tmp_path, text, message):
    path = tmp_path / "zones.yaml"
    path.write_text(text)
    with pytest.raises(MiVOLOError) as error:
        zone_set(path)
    assert message in str(error.value).replace(str(tmp_path) + "/", "") and "\n" not in str(error.value)


@pytest.mark.parametrize(
    "zone, line, message",
    [
        (["door"], [], "--zone door: expected NAME:x1,y1,x2,y2,..."),
        (["door:1,2,3"], [], "--zone door:1,2,3: expected pairs of coordinates"),
        ([], ["gate:1,2,3,x"], "--line gate:1,2,3,x: coordinates must be numbers"),
        ([], ["gate:1,1,1,1"], "--line gate:1,1,1,1: its points must be distinct"),
    ],
)
def test_a_bad_zone_flag_is_one_line(zone, line, message):
    with pytest.raises(MiVOLOError, match="^" + message.replace(".", r"\.").replace("(", r"\(")):
        zone_set(None, zone, line)


def test_the_zones_are_looked_up_as_supervisions_polygon_zone_triggers():
    """All zones at once (one mask lookup) says what PolygonZone.trigger says zone by zone,
    points on edges and outside the frame included."""
    import supervision as sv

    rng = np.random.default_rng(5)
    x = np.concatenate([rng.uniform(-20, 220, 300), [80, 120, 100, 199, 200]])
    zones = ZoneSet(zones=(DOOR, HALL, ZoneSpec("wedge", ((10, 0), (190, 95), (30, 80)))))
    people = People.create(len(x), body_xyxy=np.stack([x - 5, x * 0, x + 5, rng.uniform(-5, 105, len(x))], axis=1),
                           track_id=np.arange(len(x)))  # fmt: skip
    inside = ZoneTracker(zones).update(people, 0, 0.0).data["zones_inside"]
    detections = sv.Detections(xyxy=people.tracking_xyxy.astype(float))
    for column, zone in enumerate(zones.zones):
        expected = sv.PolygonZone(np.array(zone.points, np.int64)).trigger(detections)
        assert np.array_equal(inside[:, column], expected)
    for anchor in ANCHORS:  # the points are supervision's Positions
        expected = detections.get_anchors_coordinates(anchor_position(anchor))
        assert np.allclose(anchor_points(person_boxes(people), anchor), expected)
    assert 0 < inside.sum() < inside.size


def test_zones_and_lines_are_drawn_in_place_with_their_counts():
    from mivolo.core.drawing import DrawnLine, DrawnZone, draw_zones

    canvas = np.zeros((100, 200, 3), np.uint8)
    drawn = draw_zones(canvas, [DrawnZone("door", DOOR.points, 2)], [DrawnLine("gate", (160, 0), (160, 100), 1, 0)])
    assert drawn is canvas  # the annotated video hands it a canvas of its own
    assert canvas[50, 80].any() and canvas[5, 160].any()  # the door's left edge, the line near its top
    assert not canvas[50, 10].any()
    assert canvas[45:56, 95:106].any()  # the count's label at the door's centre
