"""Tracking with one identity per human, on scripted detections (a detector test double).

Each scripted frame is a list of boxes with labels; it goes through the real association
into the frame's People (`people_from_detections`) and the real ultralytics trackers configured
from the project's YAML files.
"""

from dataclasses import replace

import numpy as np
import pytest

from mivolo.core.errors import MiVOLOError
from scripted_people import bodies, row_ids

from mivolo.core.geometry import estimate_body_boxes
from mivolo.core.record import people_from_detections
from mivolo.tracking.tracker import TRACKER_DIR, create_tracker, load_tracker_config

BLANK = np.zeros((240, 320, 3), np.uint8)
TRACKERS = ["botsort.yaml", "bytetrack.yaml"]


def body(x, y=60, w=40, h=140):
    return ([x, y, x + w, y + h], "person")


def face(x, y=65, size=20):
    return ([x, y, x + size, y + size], "face")


def run_script(tracker, frames):
    """Track scripted frames; per frame, the IDs as {(person box index, face box index): id}."""
    per_frame = []
    for objects in frames:
        boxes = [box for box, _ in objects]
        labels = [label for _, label in objects]
        people = people_from_detections(np.array(boxes, np.float32).reshape(-1, 4), labels, [0.9] * len(objects))
        per_frame.append(row_ids(tracker.update(people, BLANK)))
    return per_frame


def tracker_for(name, **overrides):
    config = load_tracker_config(name)
    if config.tracker_type == "botsort":
        overrides.setdefault("gmc_method", "none")  # a blank scripted frame has no camera motion
    return create_tracker(replace(config, **overrides))


# ---- configuration ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["botsort.yaml", "botsort", "bytetrack.yaml", "bytetrack"])
def test_tracker_names_resolve_to_project_files(name):
    config = load_tracker_config(name)
    assert config.path.parent == TRACKER_DIR
    assert config.tracker_type == name.split(".")[0]
    assert config.track_buffer == 30 and config.match_thresh == 0.8


def test_tracker_path_is_loaded(tmp_path):
    custom = tmp_path / "mine.yaml"
    custom.write_text((TRACKER_DIR / "bytetrack.yaml").read_text().replace("track_buffer: 30", "track_buffer: 7"))
    assert load_tracker_config(str(custom)).track_buffer == 7


@pytest.mark.parametrize("name", ["botsort.yaml", "bytetrack.yaml"])
def test_every_tracker_key_is_commented(name):
    settings = [line for line in (TRACKER_DIR / name).read_text().splitlines() if line and not line.startswith("#")]
    assert len(settings) >= 7
    for line in settings:
        key, _, rest = line.partition(":")
        assert "#" in rest and len(rest.split("#", 1)[1].strip()) > 10, f"{key} has no comment"


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda text: text.replace("track_buffer: 30", "track_bufer: 30"), "unknown track_bufer"),
        (lambda text: text.replace("match_thresh: 0.8", "match_thresh: high"), "match_thresh must be a float"),
        (lambda text: text.replace("tracker_type: bytetrack", "tracker_type: sort"), "tracker_type must be one of"),
        (lambda text: text.replace("fuse_score: true", ""), "missing fuse_score"),
    ],
)
def test_bad_tracker_config_is_one_clear_error(tmp_path, edit, message):
    bad = tmp_path / "bad.yaml"
    bad.write_text(edit((TRACKER_DIR / "bytetrack.yaml").read_text()))
    with pytest.raises(MiVOLOError, match=message):
        load_tracker_config(str(bad))


def test_unknown_tracker_name_lists_the_known_ones():
    with pytest.raises(MiVOLOError, match="botsort.yaml, botsort_static.yaml, bytetrack.yaml"):
        load_tracker_config("deepsort.yaml")


# ---- one identity per human ---------------------------------------------------------------------


def test_body_box_estimated_from_face_follows_documented_proportions():
    np.testing.assert_allclose(estimate_body_boxes(np.array([100, 50, 120, 70])), [[80, 40, 140, 180]])


@pytest.mark.parametrize("name", TRACKERS)
def test_two_people_crossing_keep_their_ids(name):
    frames = [[body(20 + 12 * i, 60), body(260 - 12 * i, 70)] for i in range(21)]
    ids = run_script(tracker_for(name), frames)
    for per_frame in ids:
        assert per_frame == {(0, None): 1, (1, None): 2}


@pytest.mark.parametrize("name", TRACKERS)
def test_person_returning_within_buffer_keeps_id_and_after_it_gets_a_new_one(name):
    walk = [[body(40 + 2 * i)] for i in range(6)]
    gone = [[] for _ in range(10)]
    back = [[body(52)] for _ in range(4)]
    ids = run_script(tracker_for(name, track_buffer=15), walk + gone + back)
    assert [frame for frame in ids[:6]] == [{(0, None): 1}] * 6
    assert ids[6:16] == [{}] * 10
    assert ids[16:] == [{(0, None): 1}] * 4

    gone_long = [[] for _ in range(20)]
    ids = run_script(tracker_for(name, track_buffer=15), walk + gone_long + back)
    seen = {track_id for frame in ids for track_id in frame.values()}
    assert ids[-1] == {(0, None): 2} and seen == {1, 2}


def test_tracker_reports_the_tracks_it_gives_up():
    tracker = tracker_for("bytetrack.yaml", track_buffer=3)
    ended = []
    for frame in [[body(40)]] * 3 + [[]] * 6:
        run_script(tracker, [frame])
        ended += tracker.ended_track_ids()
    assert ended == [1]


def test_a_lost_track_dropped_as_a_duplicate_is_reported_as_ended():
    """B walks into A and vanishes behind them: ultralytics' duplicate removal then drops B's lost
    track without listing it as removed, so only the tracker's own lists tell that it ended."""
    tracker = tracker_for("bytetrack.yaml", track_buffer=30)
    ended_at = {}
    for frame in range(14):
        b_x = 160 - 6 * frame
        boxes = [[100, 60, 140, 200]] + ([[b_x, 60, b_x + 40, 200]] if b_x > 104 else [])
        tracker.update(bodies(*boxes), BLANK)
        for track_id in tracker.ended_track_ids():
            ended_at[track_id] = frame
    assert ended_at == {2: 10}  # long before track_buffer (30 frames) would have removed it
    assert 2 not in [track.track_id for track in tracker._tracker.removed_stracks]


@pytest.mark.parametrize("name", TRACKERS)
def test_face_only_person_is_one_tracked_person(name):
    frames = [[face(100 + 3 * i)] for i in range(8)]
    ids = run_script(tracker_for(name), frames)
    assert ids == [{(None, 0): 1}] * 8


@pytest.mark.parametrize("name", TRACKERS)
def test_face_appearing_and_disappearing_never_gets_its_own_id(name):
    frames = []
    for i in range(10):
        x = 60 + 3 * i
        frames.append([body(x), face(x + 10)] if i % 2 else [body(x)])
    ids = run_script(tracker_for(name), frames)
    for i, per_frame in enumerate(ids):
        assert per_frame == ({(0, 1): 1} if i % 2 else {(0, None): 1})


@pytest.mark.parametrize("name", TRACKERS)
def test_body_lost_then_face_only_keeps_the_id(name):
    # a 20 px face at (100, 50) estimates the body (80, 40, 140, 180); the real body is close to it
    with_body = [[([82, 42, 138, 178], "person"), ([100, 50, 120, 70], "face")]] * 4
    face_only = [[([100, 50, 120, 70], "face")]] * 4
    ids = run_script(tracker_for(name), with_body + face_only + with_body)
    assert ids == [{(0, 1): 1}] * 4 + [{(None, 0): 1}] * 4 + [{(0, 1): 1}] * 4


@pytest.mark.parametrize("name", TRACKERS)
def test_counts_per_frame_and_unique_people(name):
    """Two pairs and one lone face per frame: three people a frame, three overall, never five."""
    frames = [[body(20 + i), face(30 + i), body(150 - i), face(160 - i), face(260, y=20)] for i in range(6)]
    ids = run_script(tracker_for(name), frames)
    assert all(len(per_frame) == 3 for per_frame in ids)
    assert {track_id for per_frame in ids for track_id in per_frame.values()} == {1, 2, 3}
    assert ids[-1] == {(0, 1): 1, (2, 3): 2, (None, 4): 3}


def test_a_face_and_its_body_are_one_person_with_the_higher_confidence():
    people = people_from_detections(np.array([[10, 10, 60, 200], [20, 15, 40, 35]]), ["person", "face"], [0.7, 0.95])
    assert len(people) == 1
    assert (people.body_index[0], people.face_index[0], people.confidence[0]) == (0, 1, pytest.approx(0.95))
    np.testing.assert_allclose(people.tracking_xyxy, [[10, 10, 60, 200]])
    face_only = people_from_detections(np.array([[100, 50, 120, 70]]), ["face"], [0.8])
    np.testing.assert_allclose(face_only.tracking_xyxy, [[80, 40, 140, 180]])  # estimated from the face


# ---- the Re-ID hook ------------------------------------------------------------------------------


class IdentityEncoder:
    """Re-ID test double: the scripted identity of each box, as a one-hot embedding."""

    name = "scripted-identity"
    dim = 4

    def __init__(self):
        self.identities = {}  # rounded box -> identity
        self.calls = []

    def embed(self, image_bgr, boxes_xyxy):
        self.calls.append(np.array(boxes_xyxy))
        out = np.zeros((len(boxes_xyxy), self.dim), np.float32)
        for row, box in enumerate(boxes_xyxy):
            out[row, self.identities[tuple(int(round(v)) for v in box)]] = 1.0
        return out


def swap_scenario(tracker, encoder=None):
    """A and B stand side by side (boxes overlap, IoU 0.6), then swap places."""
    left, right = [100, 40, 180, 200], [120, 40, 200, 200]
    ids = []
    for frame in range(8):
        a_box, b_box = (left, right) if frame < 5 else (right, left)
        if encoder is not None:
            encoder.identities = {tuple(a_box): 0, tuple(b_box): 1}
        tracked = tracker.update(bodies(a_box, b_box), BLANK)
        ids.append({body: track_id for (body, _), track_id in row_ids(tracked).items()})
    return ids


def test_reid_encoder_drives_botsort_appearance_matching():
    encoder = IdentityEncoder()
    tracker = create_tracker(replace(load_tracker_config("botsort.yaml"), gmc_method="none"), encoder)
    with_appearance = swap_scenario(tracker, encoder)
    assert with_appearance[-1] == {0: 1, 1: 2}  # the IDs follow the people
    np.testing.assert_allclose(encoder.calls[0], [[100, 40, 180, 200], [120, 40, 200, 200]], atol=1e-3)
    assert len(encoder.calls) == 8

    position_only = swap_scenario(tracker_for("botsort.yaml"))
    assert position_only[-1] == {0: 2, 1: 1}  # without appearance the IDs follow the places


def test_reid_misconfiguration_is_a_clear_error():
    with pytest.raises(MiVOLOError, match="with_reid is true but no Re-ID encoder"):
        create_tracker(replace(load_tracker_config("botsort.yaml"), with_reid=True))
    with pytest.raises(MiVOLOError, match="needs BoT-SORT"):
        create_tracker(load_tracker_config("bytetrack.yaml"), IdentityEncoder())


def test_reid_encoder_with_wrong_shape_is_reported():
    class WrongDim(IdentityEncoder):
        def embed(self, image_bgr, boxes_xyxy):
            return super().embed(image_bgr, boxes_xyxy)[:, :3]  # 3 columns while claiming dim 4

    encoder = WrongDim()
    tracker = create_tracker(replace(load_tracker_config("botsort.yaml"), gmc_method="none"), encoder)
    with pytest.raises(MiVOLOError, match="returned shape"):
        swap_scenario(tracker, encoder)
