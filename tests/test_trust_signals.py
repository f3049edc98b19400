"""Signals never lose what was analysed: once a video run is writing its outputs, a further
Ctrl-C or SIGTERM is ignored, and the run ends with exit code 130 and every output whole."""

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from test_demo_images import ROOT, image_folder  # noqa: F401  (a fixture)
from test_video_pipeline import SIZE, model_flags, video_stats

from mivolo.devtools.synthetic import write_figure_video
from mivolo.jobs.video_job import StopRequest

# demo.py's command line in a process that presses Ctrl-C twice: once while the second frame is
# analysed, and again while the per-frame JSON is being written (its first record), i.e. in the
# middle of finalisation. Both are real SIGINTs delivered to the process.
DOUBLE_CTRL_C = textwrap.dedent(
    """
    import os, signal, sys

    import mivolo.sinks.frames_json as frames_json
    from mivolo.cli import demo

    def ctrl_c():
        os.kill(os.getpid(), signal.SIGINT)

    class CtrlCOnSecondFrame:
        def __init__(self, detector):
            self.detector, self.calls = detector, 0

        def detect_people(self, images):
            self.calls += 1
            if self.calls == 2:
                ctrl_c()
            return self.detector.detect_people(images)

    record = frames_json.frame_record

    def record_after_ctrl_c(*args, **kwargs):
        if not getattr(record_after_ctrl_c, "pressed", False):
            record_after_ctrl_c.pressed = True
            ctrl_c()
        return record(*args, **kwargs)

    frames_json.frame_record = record_after_ctrl_c
    sys.exit(demo.main(sys.argv[1:], wrap_detector=CtrlCOnSecondFrame))
    """
)


def run_script(script: str, *args: str) -> subprocess.CompletedProcess:
    """`python -c script args...` from the repository root, its output captured."""
    return subprocess.run(
        [sys.executable, "-c", script, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=300,
    )


def test_a_second_ctrl_c_while_finalising_loses_nothing(tmp_path, detector_path, legacy_checkpoint_path):
    video = write_figure_video(tmp_path / "hall.mp4", frames=30, size=SIZE)
    out = tmp_path / "out"
    args = ["--input", str(video), "--output", str(out), "--draw", "--save-json", "--min-track-length", "1", "--no-progress"]
    proc = run_script(DOUBLE_CTRL_C, *args, *map(str, model_flags(detector_path, legacy_checkpoint_path)))
    assert proc.returncode == 130, proc.stderr
    assert "Video processing stopped (SIGINT)!" in proc.stdout and proc.stderr == ""
    run = json.loads((out / "hall_summary.json").read_text())["run"]
    assert run["stopped_by"] == "SIGINT" and run["frames_analysed"] == run["frames_read"] == 2
    assert len(json.loads((out / "hall_frames.json").read_text())) == 2
    assert len((out / "hall_mot.txt").read_text().splitlines()) > 0
    assert video_stats(out / "out_hall.avi")[0] == 2
    assert sorted(p.name for p in out.iterdir()) == ["hall_frames.json", "hall_mot.txt", "hall_summary.json", "out_hall.avi"]


def test_signals_while_finalising_are_ignored():
    previous = signal.getsignal(signal.SIGINT)
    with StopRequest() as stop:
        os.kill(os.getpid(), signal.SIGTERM)
        stop.finalising = True
        os.kill(os.getpid(), signal.SIGINT)  # would be KeyboardInterrupt before finalisation
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.signal_name == "SIGTERM"
    assert signal.getsignal(signal.SIGINT) == previous


# Ctrl-C at a chosen import: a real SIGINT, sent by the process to itself when the module is first
# looked for (the command's own module, or torch, which loads once the arguments are checked)
CTRL_C_AT_IMPORT = textwrap.dedent(
    """
    import os, signal, sys

    class CtrlCAtImport:
        def find_spec(self, name, path=None, target=None):
            if name == sys.argv[1]:
                os.kill(os.getpid(), signal.SIGINT)
            return None

    sys.meta_path.insert(0, CtrlCAtImport())
    from mivolo.cli.common import launch

    sys.exit(launch("mivolo.cli.demo", "demo.py", sys.argv[2:]))
    """
)


@pytest.mark.parametrize("module", ["mivolo.cli.demo", "torch"])
def test_ctrl_c_while_starting_up_is_one_line(tmp_path, image_folder, detector_path, legacy_checkpoint_path, module):
    out = tmp_path / "out"
    args = ["--input", str(image_folder / "one.jpg"), "--output", str(out), "--detector-weights", str(detector_path),
            "--checkpoint", str(legacy_checkpoint_path)]  # fmt: skip
    proc = run_script(CTRL_C_AT_IMPORT, module, *args)
    assert proc.returncode == 130, proc.stderr
    assert proc.stderr.strip() == "demo.py: interrupted"
    assert not out.exists()
