"""demo_advanced_reid.py --compare on a generated video, and the ID-switch count it reports."""

from __future__ import annotations

import csv

import numpy as np
import pytest
import torch

from mivolo.core.errors import MiVOLOError
from mivolo.jobs.reid_comparison import MotBox, count_id_switches, read_mot
from mivolo.jobs.crossing_scene import write_crossing_video
from mivolo.jobs.reid_selection import use_model
from mivolo.reid.store import import_model
from mivolo.devtools.reid_synthetic import write_public_weights


def mot_box(frame, track_id, x):
    return MotBox(frame, track_id, np.array([x, 0, x + 10, 20], np.float32))


def test_id_switches_follow_each_ground_truth_person():
    truth = [mot_box(f, 1, 0) for f in (1, 2, 3, 4)] + [mot_box(f, 2, 50) for f in (1, 2, 3, 4)]
    hypothesis = [
        mot_box(1, 7, 0),
        mot_box(1, 8, 50),
        mot_box(2, 8, 0),
        mot_box(2, 7, 50),  # swapped: 2 switches
        mot_box(3, 8, 0),  # person 2 unmatched in frame 3: no switch counted
        mot_box(4, 8, 0),
        mot_box(4, 9, 51),  # person 2 now on a new track 9 (IoU 0.82): 1 switch
    ]
    assert count_id_switches(truth, hypothesis) == 3
    assert count_id_switches(truth, truth) == 0


def test_read_mot_rejects_a_bad_row(tmp_path):
    path = tmp_path / "gt.txt"
    path.write_text("1,1,10,20,30,40,1,-1,-1,-1\n2,one,10,20,30,40\n")
    with pytest.raises(MiVOLOError, match=r"gt\.txt:2: not a MOT row"):
        read_mot(path)
    path.write_text("1,1,10,20,30,40,1,-1,-1,-1\n")
    (row,) = read_mot(path)
    assert (row.frame, row.track_id, row.box.tolist()) == (1, 1, [10, 20, 40, 60])


@pytest.fixture(scope="module")
def demo_main():
    from mivolo.cli.reid_compare import main  # what demo_advanced_reid.py launches

    return main


def test_compare_on_a_generated_video_writes_the_table(
    demo_main, detector_path, legacy_checkpoint_path, tmp_path, monkeypatch, capsys
):
    monkeypatch.setenv("MIVOLO_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("MIVOLO_REID_DIR", raising=False)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # shared CI cores
    try:
        video, truth = write_crossing_video(
            tmp_path / "crossing.avi", tmp_path / "gt.txt", frames=4
        )  # MiVOLO on a CPU dominates: the fewest frames a track needs (3)
        source = write_public_weights("osnet_x0_25", tmp_path / "osnet_x0_25_random.pt", seed=3)
        import_model(source, "scene_osnet")  # into the user's models folder
        use_model("scene_osnet")  # the user's botsort.yaml now turns Re-ID on: the baseline must not
        output = tmp_path / "out"
        code = demo_main(
            [
                "--input",
                str(video),
                "--compare",
                "scene_osnet",
                "--gt",
                str(truth),
                "--output",
                str(output),
                "--detector-weights",
                str(detector_path),
                "--checkpoint",
                str(legacy_checkpoint_path),
                "--device",
                "cpu",
                "--detector-imgsz",
                "160",
                "--with-persons",
                "--no-progress",
            ]
        )
    finally:
        torch.set_num_threads(threads)
    assert code == 0
    printed = capsys.readouterr().out
    assert "| run | embedding dim | tracks created | unique people after merge | ID switches | FPS |" in printed
    with open(output / "reid_comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run"] for row in rows] == ["no Re-ID", "scene_osnet"]
    assert rows[0]["embedding dim"] == "-" and rows[0]["unique people after merge"] == "-"
    assert rows[1]["embedding dim"] == "512"
    for row in rows:
        tracks = int(row["tracks created"])
        assert tracks >= 1 and int(row["ID switches"]) >= 0 and float(row["FPS"]) > 0
    assert 1 <= int(rows[1]["unique people after merge"]) <= int(rows[1]["tracks created"])
    assert [(row["frames"], row["completed"]) for row in rows] == [("4/4", "yes")] * 2
    assert (output / "reid_comparison.md").read_text().count("\n") == 4  # header, rule, two runs
    assert (output / "no_Re-ID").is_dir() and (output / "scene_osnet").is_dir()
