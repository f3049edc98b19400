"""demo.py never harms a user's files and never leaves a broken output: links are never
followed, no output overwrites an input or another output, outputs are not read back as inputs,
every output location is checked before the first frame, a full disk is one line and leaves no
incomplete file, and two runs into one folder do not mix their outputs.

The full-disk and read-only cases mount a real small tmpfs, which needs root; elsewhere they are
skipped with the reason."""

import contextlib
import json
import os
import signal
import subprocess
import sys
import time

import cv2
import numpy as np
import pytest
from test_demo_images import ROOT, run_demo
from test_video_pipeline import SIZE, model_flags, video_stats

from mivolo.cli.demo import main
from mivolo.core.errors import MiVOLOError
from mivolo.devtools.synthetic import figure_frame, write_figure_video
from mivolo.io.run_lock import RunLock, lock_path


def demo(inputs, out, detector_path, checkpoint, *flags):
    return main(["--input", str(inputs), "--output", str(out), "--no-progress", *flags, *model_flags(detector_path, checkpoint)])


def one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("demo.py: error: "), stderr
    return lines[0]


def write_photo(path, index=0):
    cv2.imwrite(str(path), figure_frame(index, SIZE))
    return path


# ---- 1. links and inputs ---------------------------------------------------------------------------


def test_a_link_planted_at_the_old_partial_video_name_is_never_followed(tmp_path, detector_path, legacy_checkpoint_path):
    video = write_figure_video(tmp_path / "clip.mp4", frames=4, size=SIZE)
    victim = tmp_path / "victim.txt"
    victim.write_text("a user's file")
    out = tmp_path / "out"
    out.mkdir()
    (out / ".out_clip.partial.avi").symlink_to(victim)  # the name the writer once used

    assert demo(video, out, detector_path, legacy_checkpoint_path, "--draw") == 0
    assert victim.read_text() == "a user's file"
    assert not (out / "out_clip.avi").is_symlink() and video_stats(out / "out_clip.avi")[0] == 4


@pytest.mark.parametrize("kind", ["image", "video"])
def test_json_output_path_at_the_input_is_refused(tmp_path, detector_path, legacy_checkpoint_path, capsys, kind):
    source = write_photo(tmp_path / "a.jpg") if kind == "image" else write_figure_video(tmp_path / "v.mp4", frames=2, size=SIZE)
    before = source.read_bytes()
    out = tmp_path / "out"
    assert demo(source, out, detector_path, legacy_checkpoint_path, "--json-output-path", str(source)) == 2
    assert "would overwrite the input" in one_error_line(capsys.readouterr().err)
    assert source.read_bytes() == before and not out.exists()


def test_output_folder_at_the_input_folder_spares_the_users_files(tmp_path, detector_path, legacy_checkpoint_path, capsys):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo(photos / "a.jpg")
    users = write_photo(photos / "out_a.jpg", index=9)  # the user's own file, named like an output
    before = users.read_bytes()
    assert demo(photos, photos, detector_path, legacy_checkpoint_path, "--draw") == 2
    assert "out_a.jpg: an output of this run would overwrite the input" in one_error_line(capsys.readouterr().err)
    assert users.read_bytes() == before and sorted(p.name for p in photos.iterdir()) == ["a.jpg", "out_a.jpg"]


def test_output_folders_inside_the_input_folder_are_not_read_back(tmp_path, detector_path, legacy_checkpoint_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    write_photo(photos / "a.jpg")
    out = photos / "out"
    flags = ["--draw", "--save-crops", "--crops-dir", str(photos / "crops")]
    for _ in range(2):  # the second run finds the first one's annotated image and crops in the input folder
        assert demo(photos, out, detector_path, legacy_checkpoint_path, *flags) == 0
    report = json.loads((out / "images.json").read_text())
    assert [record["path"] for record in report["images"]] == [str(photos / "a.jpg")]
    assert sorted(p.name for p in out.iterdir()) == ["images.json", "out_a.jpg"]


def test_two_outputs_at_one_path_are_refused(tmp_path, detector_path, legacy_checkpoint_path, capsys):
    video = write_figure_video(tmp_path / "v.mp4", frames=2, size=SIZE)
    out = tmp_path / "out"
    assert demo(video, out, detector_path, legacy_checkpoint_path, "--json-output-path", str(out / "v_summary.json")) == 2
    assert "would write it twice" in one_error_line(capsys.readouterr().err)
    assert not out.exists()


# ---- 2. every location checked before the first frame ----------------------------------------------


@pytest.mark.parametrize("case", ["crops_dir_under_a_file", "json_path_is_a_folder", "json_path_is_a_fifo"])
def test_unusable_output_locations_fail_before_anything_is_written(tmp_path, detector_path, legacy_checkpoint_path, capsys, case):
    video = write_figure_video(tmp_path / "v.mp4", frames=2, size=SIZE)
    (tmp_path / "a_file").write_text("x")
    (tmp_path / "a_folder").mkdir()
    os.mkfifo(tmp_path / "a_fifo")
    flags, message = {
        "crops_dir_under_a_file": (["--save-crops", "--crops-dir", str(tmp_path / "a_file" / "crops")], "is not a folder"),
        "json_path_is_a_folder": (["--json-output-path", str(tmp_path / "a_folder")], "is a folder"),
        "json_path_is_a_fifo": (["--json-output-path", str(tmp_path / "a_fifo")], "not a regular file"),
    }[case]
    out = tmp_path / "out"
    assert demo(video, out, detector_path, legacy_checkpoint_path, *flags) == 2
    assert message in one_error_line(capsys.readouterr().err)
    assert not out.exists() and list((tmp_path / "a_folder").iterdir()) == []


def test_missing_checkpoint_leaves_no_output_folder(tmp_path, detector_path, capsys):
    out = tmp_path / "new" / "out"
    assert demo(write_photo(tmp_path / "a.jpg"), out, detector_path, tmp_path / "absent.pth.tar") == 2
    one_error_line(capsys.readouterr().err)
    assert not (tmp_path / "new").exists()


# ---- 3. a full disk, on a real small tmpfs ---------------------------------------------------------


@contextlib.contextmanager
def tmpfs(folder, options):
    """A real tmpfs mounted at `folder` for the block (root only; skipped elsewhere)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    folder.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True)


def fill(disk, leave_bytes):
    """Fill the disk with one file, leaving about `leave_bytes` free."""
    stats = os.statvfs(disk)
    (disk / "filler").write_bytes(bytes(max(0, stats.f_bavail * stats.f_frsize - leave_bytes)))


def assert_nothing_broken(out):
    """No video, no hidden partial file, and every JSON there is whole."""
    names = [p.name for p in out.rglob("*")] if out.exists() else []
    assert not [name for name in names if name.endswith(".avi") or name.startswith(".out_") or ".tmp" in name], names
    for path in out.rglob("*.json") if out.exists() else []:
        json.loads(path.read_text())


def test_full_disk_video_run_is_one_line_and_leaves_no_broken_video(tmp_path, detector_path, legacy_checkpoint_path):
    video = write_figure_video(tmp_path / "long.mp4", frames=300, size=SIZE)  # about 230 KB of XVID
    with tmpfs(tmp_path / "disk", "size=2m") as disk:
        fill(disk, 64 * 1024)
        out = disk / "out"
        flags = ["--draw", "--save-json", "--skip-frames", "99", "--no-progress"]
        proc = run_demo("--input", video, "--output", out, *flags, *model_flags(detector_path, legacy_checkpoint_path))
        assert proc.returncode == 2, proc.stderr
        assert "no space left on" in one_error_line(proc.stderr).lower()
        assert_nothing_broken(out)


def test_full_disk_image_run_is_one_line_and_leaves_no_broken_json(tmp_path, detector_path, legacy_checkpoint_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    rng = np.random.RandomState(0)
    for index in range(3):  # noise: about 360 KB per JPEG, annotated or not
        cv2.imwrite(str(photos / f"p{index}.jpg"), rng.randint(0, 255, (480, 640, 3), dtype=np.uint8))
    with tmpfs(tmp_path / "disk", "size=2m") as disk:
        fill(disk, 500 * 1024)
        out = disk / "out"
        proc = run_demo("--input", photos, "--output", out, "--draw", "--no-progress", *model_flags(detector_path, legacy_checkpoint_path))
        assert proc.returncode == 2, proc.stderr
        assert "No space left on device" in one_error_line(proc.stderr)
        assert_nothing_broken(out)
        assert not (out / "images.json").exists()


def test_read_only_crops_dir_fails_before_the_first_frame(tmp_path, detector_path, legacy_checkpoint_path, capsys):
    video = write_figure_video(tmp_path / "v.mp4", frames=2, size=SIZE)
    with tmpfs(tmp_path / "ro", "size=1m,ro") as read_only:
        out = tmp_path / "out"
        assert demo(video, out, detector_path, legacy_checkpoint_path, "--save-crops", "--crops-dir", str(read_only / "crops")) == 2
        assert "not writable" in one_error_line(capsys.readouterr().err)
        assert not out.exists()


# ---- 4. two runs, one output folder --------------------------------------------------------------------


def test_a_second_run_into_the_same_folder_refuses_at_once(tmp_path, detector_path, legacy_checkpoint_path):
    video = write_figure_video(tmp_path / "long.mp4", frames=300, size=SIZE)
    out = tmp_path / "out"
    args = ["--input", video, "--output", out, "--save-json", "--no-progress", *model_flags(detector_path, legacy_checkpoint_path)]
    first = subprocess.Popen(
        [sys.executable, str(ROOT / "demo.py"), *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while not any(log.stat().st_size > 0 for log in out.glob(".long.frames.*.jsonl")):  # the first run is analysing
            assert first.poll() is None, first.communicate()
            assert time.monotonic() < deadline, "no frame analysed in time"
            time.sleep(0.2)
        second = run_demo(*args)
        assert second.returncode == 2
        assert "another run (process" in one_error_line(second.stderr)
    finally:
        first.send_signal(signal.SIGINT)
        stdout, stderr = first.communicate(timeout=120)
    assert first.returncode == 130, stderr
    summary = json.loads((out / "long_summary.json").read_text())
    assert summary["run"]["stopped_by"] == "SIGINT"
    assert len(json.loads((out / "long_frames.json").read_text())) == summary["run"]["frames_analysed"]
    assert not lock_path(out, "long").exists()


def test_a_stale_lock_is_taken_over_and_a_live_one_is_not(tmp_path):
    finished = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    lock_path(tmp_path, "stale").write_text(finished.stdout)  # its process is gone
    with subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"]) as alive:
        try:
            lock_path(tmp_path, "held").write_text(f"{alive.pid}\n")
            with pytest.raises(MiVOLOError, match=f"another run \\(process {alive.pid}\\)"):
                RunLock(tmp_path, ["held", "stale"]).__enter__()
            assert lock_path(tmp_path, "stale").read_text() == finished.stdout  # untouched: nothing was taken
            with RunLock(tmp_path, ["stale"]):
                assert lock_path(tmp_path, "stale").read_text() == f"{os.getpid()}\n"
            assert not lock_path(tmp_path, "stale").exists()
        finally:
            alive.kill()
