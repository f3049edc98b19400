"""demo.py --engine ray on a local Ray (2 CPUs, one session for the module): a folder of short
generated videos, one of them corrupt, gives each video exactly the local run's outputs; a
worker killed mid-video has its video retried and finished; --resume skips finished videos;
Ctrl-C on the driver leaves whole outputs for finished videos and no final-named file for the
others; images through Ray Data give the local run's images.json."""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import pytest

ray = pytest.importorskip("ray")

from test_golden_outputs import collect  # noqa: E402

from mivolo.cli import demo  # noqa: E402
from mivolo.devtools.synthetic import figure_frame, write_figure_video  # noqa: E402
from mivolo.jobs.fleet import FLEET_SUMMARY_NAME, STAGING_FOLDER  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
SIZE = (160, 120)
GOOD_VIDEOS = ("walk_a", "walk_b", "walk_c")
FRAMES = 12

# MiVOLO (random weights, on the CPU) is the slow part: estimated on a track's first frame, then every 4th
FAST = ("--estimate-policy", "interval", "--estimate-after", "1", "--estimate-every", "4")
# the analytics outputs a local run writes must come from a Ray run too
ANALYTICS = ("--zone", "left:0,0,0.5,0,0.5,1,0,1", "--line", "middle:0.5,0,0.5,1", "--people-csv", "--report")


@pytest.fixture(scope="module")
def ray_session():
    context = ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield context.address_info["address"]
    ray.shutdown()


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fleet_media")
    videos = folder / "videos"
    videos.mkdir()
    for index, name in enumerate(GOOD_VIDEOS):
        write_figure_video(videos / f"{name}.avi", frames=FRAMES + 4 * index, size=SIZE, fps=10.0, figures=2)
    (videos / "broken.avi").write_bytes(b"RIFF\x00\x00\x00\x00AVI not a video at all" * 50)
    # the fault tests need fewer videos: one to kill a worker under, two to stop between
    subsets = {"one": GOOD_VIDEOS[:1], "two": GOOD_VIDEOS[:2]}
    for subset, names in subsets.items():
        (folder / subset).mkdir()
        for name in names:
            shutil.copy(videos / f"{name}.avi", folder / subset / f"{name}.avi")
    images = folder / "images"
    images.mkdir()
    for index in (0, 3, 6):
        cv2.imwrite(str(images / f"scene_{index}.png"), figure_frame(index, SIZE, figures=2))
    (images / "broken.jpg").write_bytes(b"not an image")
    return {"videos": videos, "images": images, **{subset: folder / subset for subset in subsets}}


def base_args(media_input, out, detector_path, legacy_checkpoint_path, *extra):
    return [str(a) for a in (
        "--input", media_input, "--output", out, "--with-persons", "--device", "cpu", "--threads", "1",
        "--no-progress", "--detector-weights", detector_path, "--checkpoint", legacy_checkpoint_path,
        "--detector-imgsz", "64", "--draw", "--save-crops", "--crop-every", "5", *FAST, *extra,
    )]  # fmt: skip


def video_outputs(out: Path, name: str) -> dict:
    """Everything the run wrote for one video, in comparable form (timing aside: a report holds
    the run's time, so only its presence is compared)."""
    found = collect(out, out)
    return {path: "written" if path.endswith("_report.html") else value for path, value in found.items() if name in path}


def fleet_summary(out: Path) -> dict:
    return json.loads((out / FLEET_SUMMARY_NAME).read_text())


def statuses(out: Path) -> dict:
    return {video["name"]: video["status"] for video in fleet_summary(out)["videos"]}


def no_staging_left(out: Path) -> bool:
    return not (out / STAGING_FOLDER).exists() and not list(out.glob(".fleet-probe-*"))


@pytest.fixture(scope="module")
def local_run(media, detector_path, legacy_checkpoint_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("local") / "out"
    assert demo.main(base_args(media["videos"], out, detector_path, legacy_checkpoint_path, "--save-json", *ANALYTICS)) == 0
    return out


@pytest.fixture(scope="module")
def ray_run(ray_session, media, detector_path, legacy_checkpoint_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("ray") / "out"
    args = base_args(media["videos"], out, detector_path, legacy_checkpoint_path, "--save-json", *ANALYTICS, "--engine", "ray", "--workers", "2")
    assert demo.main(args) == 0
    return out


def test_the_fleet_report_shows_the_fleet_summary(ray_run):
    page = (ray_run / "fleet_report.html").read_text()
    assert not re.search(r'(src|href)="(https?:)?//', page), "the report must not reach the network"
    summary = fleet_summary(ray_run)
    totals = dict(re.findall(r'data-key="([^"]+)">([^<]*)<', page.split('<table id="totals">')[1].split("</table>")[0]))
    assert (int(totals["people"]), int(totals["done"]), int(totals["failed"])) == (
        summary["totals"]["people"], 3, 1)  # fmt: skip
    assert summary["totals"]["people"] == sum(video["people"] or 0 for video in summary["videos"]) > 0
    for video in summary["videos"]:
        row = re.search(f'<tr data-video="{video["name"]}">(.*?)</tr>', page).group(1)
        assert f'<td data-key="status">{video["status"]}</td>' in row
        if video["status"] == "done":
            assert f'href="{video["name"]}_report.html"' in row and f'href="{video["summary"]}"' in row
    buckets = dict(re.findall(r'data-key="([^"]+)">([^<]*)<', page.split('<table id="age_buckets">')[1].split("</table>")[0]))
    assert {name: int(count) for name, count in buckets.items()} == summary["totals"]["age_buckets"]


def test_every_video_gets_the_local_runs_outputs_and_the_corrupt_one_is_recorded(local_run, ray_run, capsys):
    for name in GOOD_VIDEOS:
        found = video_outputs(ray_run, name)
        expected = (f"{name}_summary.json", f"out_{name}.avi", f"{name}_frames.json", f"{name}_events.csv", f"{name}_people.csv",
                    f"{name}_report.html")  # fmt: skip
        assert set(expected) <= set(found)
        assert found == video_outputs(local_run, name), name
    summary = fleet_summary(ray_run)
    by_name = {video["name"]: video for video in summary["videos"]}
    assert {name: by_name[name]["status"] for name in by_name} == {**dict.fromkeys(GOOD_VIDEOS, "done"), "broken": "failed"}
    assert "broken.avi" in by_name["broken"]["error"]
    assert summary["totals"]["done"] == 3 and summary["totals"]["failed"] == 1 and summary["totals"]["workers"] == 2
    for name in GOOD_VIDEOS:
        local = json.loads((local_run / f"{name}_summary.json").read_text())["run"]
        assert by_name[name]["frames"] == local["frames_read"] and by_name[name]["people"] == local["unique_people"]
        assert by_name[name]["gender"] == local["gender"] and by_name[name]["worker"].startswith("mivolo-")
    assert summary["totals"]["frames"] == sum(by_name[name]["frames"] for name in GOOD_VIDEOS)
    assert no_staging_left(ray_run)


def test_resume_skips_the_finished_videos(ray_run, media, detector_path, legacy_checkpoint_path):
    before = {path: path.stat().st_mtime_ns for path in ray_run.rglob("*") if path.is_file() and "walk" in path.name}
    args = base_args(media["videos"], ray_run, detector_path, legacy_checkpoint_path, "--save-json", *ANALYTICS, "--engine", "ray", "--resume")
    assert demo.main(args) == 0
    assert statuses(ray_run) == {**dict.fromkeys(GOOD_VIDEOS, "skipped"), "broken": "failed"}
    assert {path: path.stat().st_mtime_ns for path in before} == before  # not one output rewritten
    assert fleet_summary(ray_run)["totals"]["people"] > 0  # the skipped videos' results are still counted


def staged_frames(out: Path, name: str) -> int:
    """Frames the video's current attempt has analysed so far (its frame log, a line a frame)."""
    try:
        return max((len(log.read_text().splitlines()) for log in (out / STAGING_FOLDER).glob(f"{name}.*/.*.frames.*.jsonl")), default=0)
    except OSError:
        return 0


def wait_for(condition, timeout: float = 60.0):
    """`condition()`'s first true value."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)
    return value


def video_mid_run(out: Path):
    """The fleet summary's entry of a video running on a worker, once it has analysed 2 frames."""
    try:
        video = next((v for v in fleet_summary(out)["videos"] if v["status"] == "running"), None)
    except (OSError, ValueError):
        return None
    return video if video is not None and staged_frames(out, video["name"]) >= 2 else None


KILLS = {
    "ray.kill": lambda video: ray.kill(ray.get_actor(video["worker"])),
    # a node draining: the worker's run stops at the signal with its outputs cut short, which must not pass for done
    "SIGTERM": lambda video: os.kill(video["pid"], signal.SIGTERM),
}


@pytest.mark.parametrize("kill", sorted(KILLS))
def test_a_worker_killed_mid_video_has_its_video_retried_and_finished(
    kill, ray_session, media, local_run, detector_path, legacy_checkpoint_path, tmp_path
):
    out = tmp_path / "out"
    killed = {}

    def kill_first_worker_mid_video():
        video = wait_for(lambda: video_mid_run(out))
        killed["video"] = video["name"]
        KILLS[kill](video)

    killer = threading.Thread(target=kill_first_worker_mid_video)
    killer.start()
    args = base_args(media["one"], out, detector_path, legacy_checkpoint_path, "--save-json", *ANALYTICS, "--engine", "ray", "--workers", "1")
    assert demo.main(args) == 0
    killer.join()
    (victim,) = fleet_summary(out)["videos"]
    assert victim["name"] == killed["video"] and victim["status"] == "done" and victim["attempts"] == 2
    for name in GOOD_VIDEOS[:1]:
        assert video_outputs(out, name) == video_outputs(local_run, name), name
    assert no_staging_left(out)


def test_ctrl_c_keeps_finished_videos_whole_and_leaves_no_final_file_of_the_others(
    ray_session, media, local_run, detector_path, legacy_checkpoint_path, tmp_path
):
    out = tmp_path / "out"
    args = base_args(media["two"], out, detector_path, legacy_checkpoint_path, "--save-json", *ANALYTICS, "--engine", "ray",
                     "--workers", "1", "--ray-address", ray_session)  # fmt: skip
    driver = subprocess.Popen([sys.executable, "demo.py", *args], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        wait_for(lambda: video_mid_run(out) is not None and "done" in statuses(out).values(), timeout=120)
        driver.send_signal(signal.SIGINT)
        output, _ = driver.communicate(timeout=60)
    finally:
        driver.kill()
    assert driver.returncode == 130, output
    found = statuses(out)
    assert fleet_summary(out)["totals"]["stopped_by"] == "SIGINT"
    assert found == {"walk_a": "done", "walk_b": "interrupted"}
    for name, status in found.items():
        written = sorted(path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file() and name in path.as_posix())
        if status == "done":
            assert video_outputs(out, name) == video_outputs(local_run, name), name
        else:
            assert written == [], f"{name} ({status}) left {written}"
    assert no_staging_left(out)


def test_images_through_ray_data_give_the_local_images_json(ray_session, media, detector_path, legacy_checkpoint_path, tmp_path):
    runs = {}
    for engine in ("local", "ray"):
        out = tmp_path / engine
        assert demo.main(base_args(media["images"], out, detector_path, legacy_checkpoint_path, "--engine", engine)) == 0
        runs[engine] = collect(out, out)
    shards = {name: value for name, value in runs["ray"].items() if name.endswith(".jsonl")}
    assert list(shards) == ["images.part-00000.jsonl"]
    assert {name: value for name, value in runs["ray"].items() if name not in shards} == runs["local"]
    document = runs["local"]["images.json"]
    assert document["summary"]["processed"] == 3 and document["summary"]["failed"] == 1


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--engine", "ray", "--workers", "0"], "--workers must be at least 1, got 0"),
        (["--engine", "ray", "--max-retries", "-1"], "--max-retries must be at least 0"),
        (["--workers", "2"], "--workers needs --engine ray"),
        (["--resume"], "--resume needs --engine ray"),
        (["--engine", "ray", "--device", "cuda:1"], "Ray gives each worker its GPU"),
        (["--engine", "ray", "--crops-dir", "crops"], "drop --crops-dir"),
    ],
)
def test_bad_combinations_are_one_line_before_ray_or_torch_is_imported(tmp_path, flags, message):
    video = tmp_path / "walk.avi"
    video.write_bytes(b"not read: the arguments fail first")
    _check_refused(["--input", video, "--output", tmp_path / "out", *flags], message)
    assert not (tmp_path / "out").exists()


def test_a_webcam_cannot_go_to_the_fleet(tmp_path):
    _check_refused(["--input", "0", "--output", tmp_path / "out", "--engine", "ray"], "--engine ray cannot read webcam 0")


def _check_refused(args, message):
    code = (
        "import sys; from mivolo.cli.demo import main; "
        f"code = main({[str(a) for a in args]!r}); print(code, 'torch' in sys.modules or 'ray' in sys.modules)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    exit_code, heavy = proc.stdout.split()[-2:]
    assert exit_code == "2" and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert heavy == "False"


@pytest.mark.parametrize(
    "resources, workers, gpus, expected",
    [
        ({"CPU": 16, "GPU": 4}, None, None, (4, 1.0, 1.0)),  # a GPU node: one worker per GPU
        ({"CPU": 16, "GPU": 4}, None, 0.5, (8, 1.0, 0.5)),
        ({"CPU": 16, "GPU": 4}, 2, None, (2, 1.0, 1.0)),
        ({"CPU": 16}, None, None, (4, 4.0, 0.0)),  # CPUs only: one worker per 4 CPUs
        ({"CPU": 2}, None, None, (1, 2.0, 0.0)),
        ({"CPU": 2}, 2, None, (2, 1.0, 0.0)),
        ({"CPU": 16, "GPU": 8}, None, None, (3, 1.0, 1.0)),  # never more workers than videos
    ],
)
def test_the_pool_is_sized_from_the_flags_and_the_cluster(monkeypatch, resources, workers, gpus, expected):
    from mivolo.jobs import fleet

    monkeypatch.setattr(fleet.ray, "cluster_resources", lambda: resources)
    shape = fleet.pool_shape(workers, gpus, jobs=3 if resources.get("GPU") == 8 else 100)
    assert (shape.workers, shape.cpus, shape.gpus) == expected


@pytest.mark.parametrize("resources, workers, gpus, message", [({"CPU": 16, "GPU": 1}, 2, 1.0, "need 2 GPUs"), ({"CPU": 2}, 3, None, "need a CPU each")])
def test_a_pool_the_cluster_cannot_hold_is_refused(monkeypatch, resources, workers, gpus, message):
    from mivolo.core.errors import MiVOLOError
    from mivolo.jobs import fleet

    monkeypatch.setattr(fleet.ray, "cluster_resources", lambda: resources)
    with pytest.raises(MiVOLOError, match=message):
        fleet.pool_shape(workers, gpus, jobs=10)


def test_a_worker_that_cannot_see_the_output_folder_says_so(tmp_path):
    from mivolo.core.errors import MiVOLOError
    from mivolo.jobs.fleet import check_probe, write_probe

    probe, token = write_probe(tmp_path)
    check_probe(str(probe), token)  # the driver's own folder: seen
    with pytest.raises(MiVOLOError, match="not visible from the worker on .*a filesystem every node sees"):
        check_probe(str(tmp_path / "elsewhere" / probe.name), token)  # another machine's folder of that name
