"""A plain (non-editable) install works from any folder: the wheel carries the tracker YAMLs and
the `mivolo` console command.

The wheel is built from this checkout and installed with pip into a new virtual environment.
Its dependencies are lent from this environment through PYTHONPATH (downloading them again
would take gigabytes); PYTHONPATH folders run no .pth files, so this checkout's editable
install cannot take part: `import mivolo` can only find the installed wheel.
"""

import json
import os
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

from mivolo.devtools.synthetic import write_figure_video

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(python, mivolo console script, environment) of a new venv with the project's wheel."""
    work = tmp_path_factory.mktemp("packaging")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(work / "wheel"), str(REPO)],
        check=True,
        capture_output=True,
    )
    (wheel,) = (work / "wheel").glob("mivolo-*.whl")
    venv.create(work / "venv", with_pip=False)
    python = work / "venv" / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    # MIVOLO_HOME: no user tracker copy of this machine may stand in for the shipped one
    env = {**os.environ, "PYTHONPATH": sysconfig.get_paths()["purelib"], "HF_HUB_OFFLINE": "1", "MIVOLO_HOME": str(work / "home")}
    return python, work / "venv" / "bin" / "mivolo", env, wheel


def test_the_wheel_ships_the_tracker_configs_and_the_console_command(installed):
    *_, wheel = installed
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        entry_points = next(archive.read(n).decode() for n in names if n.endswith("entry_points.txt"))
    assert {"mivolo/trackers/botsort.yaml", "mivolo/trackers/botsort_static.yaml", "mivolo/trackers/bytetrack.yaml"} <= set(names)
    assert "mivolo = mivolo.cli.main:main" in entry_points


def test_installed_package_runs_a_video_from_another_folder(installed, tmp_path, detector_path, legacy_checkpoint_path):
    python, console, env, _ = installed
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    where = subprocess.run(
        [str(python), "-c", "import mivolo, sys; print(mivolo.__file__)"], cwd=elsewhere, env=env, capture_output=True, text=True
    )
    assert Path(where.stdout.strip()).is_relative_to(python.parent.parent), where.stderr  # the installed copy
    video = write_figure_video(tmp_path / "walk.avi", frames=3, size=(160, 120))
    run = subprocess.run(
        [str(console), "run", "--input", str(video), "--output", "out", "--tracker", "botsort.yaml", "--no-progress",
         "--detector-weights", str(detector_path), "--checkpoint", str(legacy_checkpoint_path), "--device", "cpu",
         "--detector-imgsz", "64"],
        cwd=elsewhere, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    summary = json.loads((elsewhere / "out" / "walk_summary.json").read_text())
    tracker = Path(summary["settings"]["tracker"])
    assert tracker.name == "botsort.yaml" and tracker.is_relative_to(python.parent.parent)
    assert summary["run"]["frames_read"] == 3
