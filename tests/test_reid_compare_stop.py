"""Ctrl-C or SIGTERM stops the whole of demo_advanced_reid.py, in a real subprocess.

The run the signal lands in ends after its current frame and keeps its outputs; no further model
runs; the tables are written for the runs done, the cut one marked; the exit code is the signal's.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mivolo.devtools.reid_synthetic import write_public_weights
from mivolo.devtools.synthetic import write_figure_video
from mivolo.reid.store import import_model

REPO = Path(__file__).resolve().parent.parent
MODELS = ("first_osnet", "second_osnet")


@pytest.mark.parametrize(
    "signum, code, cut_run, frames",
    # the second case runs the whole baseline first: a shorter video, still long enough not to
    # end before the signal lands on a fast machine
    [(signal.SIGINT, 130, "no_Re-ID", 200), (signal.SIGTERM, 143, "first_osnet", 40)],
    ids=["sigint-in-the-baseline", "sigterm-in-the-first-model"],
)
def test_a_signal_stops_the_whole_comparison(
    tmp_path, detector_path, legacy_checkpoint_path, signum, code, cut_run, frames
):
    home = tmp_path / "home"
    for seed, name in enumerate(MODELS):
        weights = write_public_weights("osnet_x0_25", tmp_path / f"{name}.pt", seed=seed)
        import_model(weights, name, home / "reid")
    video = write_figure_video(tmp_path / "walk.avi", frames=frames, size=(160, 120))
    out = tmp_path / "out"
    command = [sys.executable, str(REPO / "demo_advanced_reid.py"), "--input", str(video), "--compare", *MODELS,
               "--output", str(out), "--detector-weights", str(detector_path),
               "--checkpoint", str(legacy_checkpoint_path), "--device", "cpu", "--detector-imgsz", "64",
               "--no-progress"]  # fmt: skip
    env = {key: value for key, value in os.environ.items() if key != "MIVOLO_REID_DIR"}
    env.update(MIVOLO_HOME=str(home), PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", YOLO_OFFLINE="1")
    def frame_logged() -> bool:  # the cut run's frame log (a unique hidden name) holds a frame
        return any(log.stat().st_size > 0 for log in (out / cut_run).glob(".walk.frames.*.jsonl"))

    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 240
        while not frame_logged():
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no frame analysed in time"
            time.sleep(0.05)
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=120)  # going on to the next model would take minutes
    finally:
        process.kill()  # a failed test leaves no run behind (a no-op once it has exited)
        process.wait()

    assert process.returncode == code, stderr
    runs = ["no_Re-ID", *MODELS]
    done = runs[: runs.index(cut_run) + 1]
    assert sorted(p.name for p in out.iterdir()) == sorted([*done, "reid_comparison.csv", "reid_comparison.md"])
    assert (out / cut_run / "walk_mot.txt").is_file() and (out / cut_run / "walk_summary.json").is_file()
    with open(out / "reid_comparison.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["run"] for row in rows] == ["no Re-ID", *MODELS][: len(done)]
    assert [row["completed"] for row in rows] == ["yes"] * (len(done) - 1) + [f"no ({signum.name})"]
    assert [row["frames"] for row in rows[:-1]] == [f"{frames}/{frames}"] * (len(done) - 1)
    cut_frames, total = (int(n) for n in rows[-1]["frames"].split("/"))
    assert 1 <= cut_frames < total == frames
    assert f"Comparison stopped ({signum.name}) after {len(done)} of 3 runs" in stdout
