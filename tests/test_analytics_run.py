"""demo.py end to end with zones and lines, on a generated video with the synthetic models and
three scripted walking people (mivolo.devtools.scripted): the per-frame JSON, the summary, the
people CSV and the events file agree with each other and with the scene as laid out by hand.

The scene: 320 x 240, 24 frames at 10 fps. Scripted people sit in a 2 x 2 grid of 160 x 120 cells
(bodies 72 x 108, bottoms at y 114 and 234), walking 3 px a frame to the right from x 1 + 7 i.
Person 0 (top-left cell) has their bottom centre at x = 37 + 3 f, so they cross the line x = 80
(drawn over the top row only, y 0..120) between frames 14 and 15, to the line's left-hand side
(top -> bottom: "in"), confirmed 3 frames on (frame 17, 1.7 s). The zone `top_left` (fractions
0..0.5 of the width and height) holds person 0 all along; `bottom` (y from 0.55) holds person 2.
"""

import csv
import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from mivolo.devtools import scripted
from mivolo.devtools.synthetic import write_figure_video

FRAMES, FPS, SIZE = 24, 10.0, (320, 240)
ZONES_YAML = """\
zones:
  top_left: [[0, 0], [0.5, 0], [0.5, 0.5], [0, 0.5]]
  bottom: [[0, 0.55], [1, 0.55], [1, 1], [0, 1]]
lines:
  door_line: [[80, 0], [80, 120]]
"""


def run_demo(args) -> int:
    return scripted.main(["--people", "3", *[str(a) for a in args]])


@pytest.fixture(scope="module")
def analytics_run(tmp_path_factory, detector_path, legacy_checkpoint_path):
    folder = tmp_path_factory.mktemp("analytics_run")
    video = write_figure_video(folder / "walk.avi", frames=FRAMES, size=SIZE, fps=FPS, figures=3)
    zones = folder / "zones.yaml"
    zones.write_text(ZONES_YAML)
    out = folder / "out"
    code = run_demo(
        ["--input", video, "--output", out, "--with-persons", "--device", "cpu", "--no-progress",
         "--detector-weights", detector_path, "--checkpoint", legacy_checkpoint_path, "--detector-imgsz", 64,
         "--estimate-policy", "interval", "--estimate-every", 12, "--estimate-after", 1,  # MiVOLO rarely: fast
         "--zones", zones, "--save-json", "--people-csv", "--draw", "--save-crops", "--blur-faces",
         "--report", "--heatmap"]
    )  # fmt: skip
    assert code == 0
    return out


def read_csv(path: Path):
    with path.open(newline="") as handle:
        return list(csv.DictReader(handle))


def test_the_outputs_agree_on_zones_and_lines(analytics_run):
    summary = json.loads((analytics_run / "walk_summary.json").read_text())
    frames = json.loads((analytics_run / "walk_frames.json").read_text())
    people = {int(row["id"]): row for row in read_csv(analytics_run / "walk_people.csv")}
    events = read_csv(analytics_run / "walk_events.csv")
    run = summary["run"]
    assert sorted(run["zones"]) == ["bottom", "top_left"] and list(run["lines"]) == ["door_line"]
    assert summary["settings"]["zones"]["lines"] == {"door_line": [[80.0, 0.0], [80.0, 120.0]]}
    by_id = {person["id"]: person for person in summary["people"]}
    assert len(by_id) == 3 and set(people) == set(by_id)

    # the scene by hand: one crossing "in" at 1.7 s by the top-left walker, who is in top_left all along
    walker = next(p for p in summary["people"] if p["line_crossings"])
    assert walker["line_crossings"] == [{"line": "door_line", "direction": "in", "time_s": 1.7}]
    assert walker["zone_visits"] == [{"zone": "top_left", "entry_s": 0.0, "exit_s": 2.3, "dwell_s": 2.3}]
    assert (run["lines"]["door_line"]["in"], run["lines"]["door_line"]["out"]) == (1, 0)
    assert run["zones"]["top_left"]["unique_visitors"] == run["zones"]["bottom"]["unique_visitors"] == 1
    assert run["zones"]["top_left"]["peak_occupancy"] == run["zones"]["bottom"]["peak_occupancy"] == 1

    for zone, figures in run["zones"].items():
        # peak occupancy: the highest per-frame occupancy in the frames JSON, first reached at its time
        occupancy = [(frame["zones"][zone]["occupancy"], frame["time_s"]) for frame in frames]
        peak = max(count for count, _ in occupancy)
        assert figures["peak_occupancy"] == peak
        assert figures["peak_time_s"] == next(time for count, time in occupancy if count == peak)
        # visitors and dwell: the CSV's people, the summary's people and the events file
        visitors = [p for p in people.values() if zone in p["zones_visited"].split(";")]
        assert figures["unique_visitors"] == len(visitors)
        dwells = sorted(float(p[f"dwell_s_{zone}"]) for p in visitors)
        assert dwells == sorted(by_id[int(p["id"])]["dwell_s"][zone] for p in visitors)
        assert figures["mean_dwell_s"] == pytest.approx(sum(dwells) / len(dwells), abs=1e-3)
        entries = [e for e in events if e["zone"] == zone and e["event"] == "entry"]
        assert len(entries) == sum(len(p[f"visits_{zone}"].split(";")) for p in visitors)
        for person in visitors:
            first = min(float(e["time_s"]) for e in entries if int(e["id"]) == int(person["id"]))
            assert person[f"visits_{zone}"].startswith(f"{first}-")
        split = figures["by_gender"]
        assert sum(group["unique_visitors"] for group in split.values()) == figures["unique_visitors"]
    crossings = [e for e in events if e["line"] == "door_line"]
    assert [(int(e["id"]), e["event"], float(e["time_s"]), int(e["frame"])) for e in crossings] == [
        (walker["id"], "in", 1.7, 17)
    ]
    assert people[walker["id"]]["crossings_door_line"] == "in@1.7"
    assert float(crossings[0]["age"]) == walker["age"] and crossings[0]["gender"] == (walker["gender"] or "")
    assert summary["outputs"]["events_csv"] == "walk_events.csv"


def test_zone_occupancy_in_each_frame_is_split_by_gender_and_age(analytics_run):
    frames = json.loads((analytics_run / "walk_frames.json").read_text())
    for frame in frames:
        for zone, counts in frame["zones"].items():
            assert sum(counts["by_gender"].values()) == sum(counts["by_age_bucket"].values()) == counts["occupancy"]
    assert all(frame["zones"]["top_left"]["occupancy"] == 1 for frame in frames if frame["total_people"] == 3)


def test_a_bad_zone_is_one_line_and_exit_2_before_any_work(tmp_path, capsys):
    video = write_figure_video(tmp_path / "v.avi", frames=2, size=(64, 48))
    code = run_demo(["--input", video, "--output", tmp_path / "out", "--zone", "door:1,2,3,4"])
    assert code == 2
    error = capsys.readouterr().err.strip()
    assert error.endswith("--zone door:1,2,3,4: needs at least 3 points, got 2") and "\n" not in error
    assert not (tmp_path / "out").exists()


# ---- the report, in a real headless browser -------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium on PATH (Debian: apt-get install -y chromium); the report's browser test needs one"
)


def browse(page: Path, profile: Path, screenshot: Path = None):
    """(the DOM after loading, the console messages): chromium headless with every request sent
    to a closed port, so that the page gets no network."""
    command = [
        CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", f"--user-data-dir={profile}",
        "--proxy-server=127.0.0.1:9", "--proxy-bypass-list=<-loopback>", "--enable-logging=stderr", "--v=0",
    ]  # fmt: skip
    if screenshot is not None:
        command += [f"--screenshot={screenshot}", "--window-size=1000,1400", "--hide-scrollbars"]
    else:
        command.append("--dump-dom")
    done = subprocess.run(command + [page.as_uri()], capture_output=True, text=True, timeout=120)
    console = [line for line in done.stderr.splitlines() if ":CONSOLE" in line]
    return done.stdout, console


def dom_values(fragment: str) -> dict:
    return {key: value for key, value in re.findall(r'data-key="([^"]+)">([^<]*)<', fragment)}


def number(text: str):
    return None if text == "" else float(text)


@needs_chromium
def test_the_browser_harness_sees_console_errors_and_blocked_requests(tmp_path):
    """The check can fail: a page that logs an error and loads an image off the network."""
    page = tmp_path / "bad.html"
    page.write_text('<p data-key="n">1</p><script>console.error("broken")</script>'
                    '<img src="https://example.com/x.png" onerror="console.error(\'offline\')">')  # fmt: skip
    dom, console = browse(page, tmp_path / "profile")
    assert dom_values(dom) == {"n": "1"}
    assert len(console) == 2 and "broken" in console[0] and "offline" in console[1]


@needs_chromium
def test_the_report_shows_the_summarys_numbers(analytics_run, tmp_path):
    page = analytics_run / "walk_report.html"
    text = page.read_text()
    assert not re.search(r'(src|href)="(https?:)?//', text), "the report must not reach the network"
    dom, console = browse(page, tmp_path / "profile")
    assert console == []
    summary = json.loads((analytics_run / "walk_summary.json").read_text())
    run = dom_values(dom.split('<table id="run">')[1].split("</table>")[0])
    assert int(run["unique_people"]) == summary["run"]["unique_people"] == 3
    assert int(run["frames_read"]) == summary["run"]["frames_read"] == FRAMES
    assert int(run["peak_concurrent_people"]) == summary["run"]["peak_concurrent_people"]
    assert number(run["seconds"]) == pytest.approx(summary["run"]["seconds"], abs=0.01)
    buckets = dom_values(dom.split('<table id="age_buckets">')[1].split("</table>")[0])
    assert {name: int(count) for name, count in buckets.items()} == summary["run"]["age_buckets"]
    people = dict(re.findall(r'<figure class="person" data-id="(\d+)">(.*?)</figure>', dom))
    assert sorted(map(int, people)) == sorted(p["id"] for p in summary["people"])
    for person in summary["people"]:
        shown = dom_values(people[str(person["id"])])
        assert number(shown["age"]) == person["age"] and number(shown["age_spread"]) == person["age_spread"]
        assert shown["gender"] == (person["gender"] or "") and number(shown["gender_score"]) == person["gender_score"]
        assert (number(shown["first_seen_s"]), number(shown["last_seen_s"])) == (person["first_seen_s"], person["last_seen_s"])
        assert shown["zones_visited"] == (", ".join(person["zones_visited"]) or "none")
        assert 'src="data:image/jpeg;base64,' in people[str(person["id"])]
    for zone, figures in summary["run"]["zones"].items():
        row = dom_values(re.search(f'<tr data-zone="{zone}">(.*?)</tr>', dom).group(1))
        assert {key: number(value) for key, value in row.items()} == {key: figures[key] for key in row}
    gate = dom_values(re.search('<tr data-line="door_line">(.*?)</tr>', dom).group(1))
    assert (int(gate["in"]), int(gate["out"])) == (1, 0)
    links = dict(re.findall(r'<a data-output="([^"]+)" href="([^"]+)"', dom))
    assert links["summary_json"] == "walk_summary.json" and links["events_csv"] == "walk_events.csv"
    assert all((analytics_run / href).exists() for href in links.values())
    assert set(links) >= {"video", "frames_json", "people_csv", "heatmap", "mot", "crops_dir"}
    assert summary["outputs"]["report_html"] == "walk_report.html"
    shot = tmp_path / "report.png"
    browse(page, tmp_path / "profile", screenshot=shot)
    assert shot.stat().st_size > 10_000  # a rendered page, not a blank one


@needs_chromium
def test_an_image_runs_report_has_the_gallery_and_distributions(tmp_path, detector_path, legacy_checkpoint_path):
    import cv2

    from mivolo.cli import demo
    from mivolo.devtools.synthetic import figure_frame

    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "scene.png"), figure_frame(0, (160, 120), figures=2))  # one image: MiVOLO is slow here
    out = tmp_path / "out"
    code = demo.main(
        [str(a) for a in ("--input", images, "--output", out, "--with-persons", "--device", "cpu", "--detector-weights",
         detector_path, "--checkpoint", legacy_checkpoint_path, "--detector-imgsz", 64, "--report", "--blur-faces")]
    )  # fmt: skip
    assert code == 0
    dom, console = browse(out / "images_report.html", tmp_path / "profile")
    assert console == []
    found = json.loads((out / "images.json").read_text())
    shown = dict(re.findall(r'<figure class="person" data-id="([^"]+)">(.*?)</figure>', dom))
    expected = {
        f"{Path(image['path']).stem}_{row}": person for image in found["images"] for row, person in enumerate(image["people"])
    }
    assert sorted(shown) == sorted(expected) and len(shown) == found["summary"]["people"] > 0
    for key, person in expected.items():
        values = dom_values(shown[key])
        assert number(values["age"]) == round(person["age"], 2)
        assert values["gender"] == {"male": "man", "female": "woman"}[person["gender"]]
    genders = dom_values(dom.split('<table id="genders">')[1].split("</table>")[0])
    assert int(genders["gender_man"]) + int(genders["gender_woman"]) + int(genders["gender_unknown"]) == len(expected)
    links = dict(re.findall(r'<a data-output="([^"]+)" href="([^"]+)"', dom))
    assert links == {"images_json": "images.json"}
