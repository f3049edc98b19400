"""--report: `<name>_report.html` (`images_report.html` for an image run), one self-contained page
a person reads: no script, no network, every image embedded (base64).

It shows the run (input, duration, models, settings, speed), people over time by gender, the age
distribution, zone occupancy over time and the line counts (when declared), a gallery of every
reported person (best crop, age with its spread, gender with its score, first and last seen,
zones visited) and a link to every other output. An image run's page has the gallery (one
entry per person per image) and the distributions. The figures are those of the summary (the
same functions make both); plots are static inline SVG (mivolo.sinks.svg_charts). A broken image would log
a console error (the browser test looks for any).
"""

from __future__ import annotations

import base64
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from mivolo.analytics.run_figures import TimeBins
from mivolo.core.demographics import AGE_BUCKETS, GENDER_GROUPS, age_bucket, gender_word
from mivolo.core.privacy import blur_faces
from mivolo.core.record import FrameRecord, gender_name, optional
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.base import IMAGE_RUN, IMAGE_RUN_NAME, VIDEO_RUN, OutputPlan, RunInfo, RunResult, SinkSpec
from mivolo.sinks.crops import crop, crop_boxes
from mivolo.sinks.images_json import IMAGES_JSON_NAME
from mivolo.sinks.summary import people_entries
from mivolo.sinks.svg_charts import PALETTE, stacked_bars, step_chart
from mivolo.sinks.values import relative_to

THUMBNAIL_HEIGHT = 128  # px: the gallery's crops
GENDER_COLOURS = ("#4878cf", "#d65f5f", "#999999")  # man, woman, unknown (GENDER_GROUPS' order)


@dataclass(frozen=True)
class GalleryEntry:
    """One person of the gallery (an image run's person, or a video's reported person)."""

    label: str
    key: str  # the DOM's data-id: the person's ID, or `<image>_<row>`
    thumbnail: Optional[bytes]  # JPEG
    facts: Dict[str, object]  # what the caption shows, by DOM data-key


def thumbnail(image: np.ndarray, box, face_xyxy, blur: bool) -> bytes:
    import cv2

    piece = crop(blur_faces(image, face_xyxy) if blur else image, box)
    scale = THUMBNAIL_HEIGHT / piece.shape[0]
    piece = cv2.resize(piece, (max(1, round(piece.shape[1] * scale)), THUMBNAIL_HEIGHT), interpolation=cv2.INTER_AREA)
    ok, encoded = cv2.imencode(".jpg", piece, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return encoded.tobytes()


def _img(image_base64: str, alt: str, mime: str) -> str:
    return (
        f'<img src="data:{mime};base64,{image_base64}" alt="{html.escape(alt)}" '
        f"onerror=\"console.error('image not shown: ' + this.alt)\">"
    )


def cell_text(value) -> str:
    return "" if value is None else html.escape(str(value))


def facts_table(table_id: str, facts: Sequence[Tuple[str, str, object]]) -> str:
    rows = "".join(f'<tr><th>{html.escape(label)}</th><td data-key="{key}">{cell_text(value)}</td></tr>' for key, label, value in facts)
    return f'<table id="{table_id}">{rows}</table>'


class Report:
    needs_every_frame = False

    def __init__(self, target: Path, kind: str, body_only: bool, blur: bool, models: Dict[str, str], later: Dict[str, Path]):
        self.target = Path(target)
        self.kind = kind
        self.body_only = body_only
        self.blur = blur
        self.models = models
        self.later = later  # the outputs written after this page (the summary, images.json), by name
        self.thumbnails: Dict[int, bytes] = {}  # a video's tracks: the crop of their best prediction so far
        self.image_people: List[GalleryEntry] = []
        self.info: Optional[RunInfo] = None

    def planned(self) -> List[Path]:
        return [self.target]

    def open(self, info: RunInfo) -> None:
        self.info = info

    def write(self, frame: FrameRecord) -> None:
        if not frame.analysed or frame.corrupt:
            return
        people, boxes = frame.people, crop_boxes(frame.people, self.body_only)
        if frame.name is not None:
            for row in range(len(people)):
                gender = gender_word(gender_name(people.gender[row]))
                age = optional(people.age[row])
                self.image_people.append(
                    GalleryEntry(
                        f"{frame.name} #{row}",
                        f"{frame.name}_{row}",
                        thumbnail(frame.image, boxes[row], people.face_xyxy, self.blur),
                        {"age": None if age is None else round(age, 2), "gender": gender,
                         "gender_score": optional(people.gender_score[row]), "image": Path(frame.source).name},
                    )  # fmt: skip
                )
            return
        for row in range(len(people)):
            track_id = int(people.track_id[row])
            if people.best_so_far[row] or track_id not in self.thumbnails:
                self.thumbnails[track_id] = thumbnail(frame.image, boxes[row], people.face_xyxy, self.blur)

    # ---- the page --------------------------------------------------------------------------------

    def _gallery(self, result: RunResult) -> List[GalleryEntry]:
        if self.kind == IMAGE_RUN:
            return self.image_people
        entries = []
        for person, track in zip(people_entries(result, self.target.parent, None), result.tracks):
            facts = {key: person[key] for key in ("age", "age_spread", "gender", "gender_score", "first_seen_s", "last_seen_s")}
            if result.zones is not None:
                facts["zones_visited"] = ", ".join(person["zones_visited"]) or "none"
            entries.append(GalleryEntry(f"person {person['id']}", str(person["id"]), self.thumbnails.get(track.best_crop_track), facts))
        return entries

    def _run_section(self, result: RunResult, peak: Optional[int], people_count: int) -> str:
        stats, info = result.stats, result.info
        facts = [("input", "Input", info.source.get("input", "images") if info.source else "images")]
        if self.kind == VIDEO_RUN:
            facts += [
                ("size", "Frame size", f"{info.source.get('width')} x {info.source.get('height')}"),
                ("video_fps", "Video frame rate", info.source.get("fps")),
                ("duration_s", "Video time analysed (s)", round(stats.frames_read / info.fps, 2) if info.fps else None),
            ]
        facts += [
            ("frames_read", "Frames read" if self.kind == VIDEO_RUN else "Images read", stats.frames_read),
            ("frames_analysed", "Analysed", stats.frames_analysed),
            ("seconds", "Processing time (s)", round(stats.seconds, 2)),
            ("fps", "Processing speed (frames/s)", round(stats.fps, 2)),
            ("unique_people", "People", people_count),
        ]
        if peak is not None:
            facts.append(("peak_concurrent_people", "Most people in one frame", peak))
        facts += [(f"model_{name}", f"Model: {name}", value) for name, value in self.models.items()]
        facts += [(f"setting_{name}", f"Setting: {name}", value) for name, value in info.settings.items() if name != "zones"]
        return "<h2>Run</h2>" + facts_table("run", facts)

    def _distributions(self, gallery: List[GalleryEntry]) -> str:
        genders = [entry.facts.get("gender") or "unknown" for entry in gallery]
        buckets = [age_bucket(entry.facts.get("age")) for entry in gallery]
        names = [name for name, _, _ in AGE_BUCKETS]

        stacks = {group: [sum(1 for g, b in zip(genders, buckets) if g == group and b == n) for n in names] for group in GENDER_GROUPS}
        chart = stacked_bars("age distribution", [n.removeprefix("age_") for n in names], stacks, GENDER_COLOURS, "people")
        gender_facts = [(f"gender_{g}", g, genders.count(g)) for g in GENDER_GROUPS]
        bucket_facts = [(n, n.removeprefix("age_").replace("_", " "), buckets.count(n)) for n in names]
        return (
            "<h2>Age and gender</h2>" + chart
            + '<div class="tables">' + facts_table("genders", gender_facts) + facts_table("age_buckets", bucket_facts) + "</div>"
        )  # fmt: skip

    def _over_time(self, people: TimeBins) -> str:
        series = {group: people.series(group) for group in GENDER_GROUPS}
        return "<h2>People over time</h2>" + step_chart("people over time", series, GENDER_COLOURS, "people (most in the second)")

    def _zones_section(self, result: RunResult, occupancy: TimeBins) -> str:
        zones = result.zones
        parts = ["<h2>Zones and lines</h2>"]
        if zones.zone_names:
            series = {zone: occupancy.series(zone) for zone in zones.zone_names}
            parts.append(step_chart("zone occupancy over time", series, PALETTE, "people inside"))
            header = "<tr><th>zone</th><th>visitors</th><th>mean dwell (s)</th><th>median dwell (s)</th><th>peak</th><th>at (s)</th></tr>"
            rows = "".join(
                f'<tr data-zone="{html.escape(name)}"><th>{html.escape(name)}</th>'
                + "".join(f'<td data-key="{key}">{cell_text(figures[key])}</td>' for key in
                          ("unique_visitors", "mean_dwell_s", "median_dwell_s", "peak_occupancy", "peak_time_s"))
                + "</tr>"
                for name, figures in zones.zones.items()
            )  # fmt: skip
            parts.append(f'<table id="zones">{header}{rows}</table>')
        if zones.line_names:
            header = "<tr><th>line</th><th>in</th><th>out</th>" + "".join(f"<th>{g} in / out</th>" for g in GENDER_GROUPS) + "</tr>"
            rows = "".join(
                f'<tr data-line="{html.escape(name)}"><th>{html.escape(name)}</th>'
                f'<td data-key="in">{counts["in"]}</td><td data-key="out">{counts["out"]}</td>'
                + "".join(f'<td>{counts["by_gender"][g]["in"]} / {counts["by_gender"][g]["out"]}</td>' for g in GENDER_GROUPS)
                + "</tr>"
                for name, counts in zones.lines.items()
            )
            parts.append(f'<table id="lines">{header}{rows}</table>')
        return "".join(parts)

    def _gallery_section(self, gallery: List[GalleryEntry]) -> str:
        cards = []
        for entry in gallery:
            picture = _img(base64.b64encode(entry.thumbnail).decode(), entry.label, "image/jpeg") if entry.thumbnail else ""
            facts = "".join(
                f'<div>{html.escape(key.replace("_", " "))}: <span data-key="{key}">{cell_text(value)}</span></div>'
                for key, value in entry.facts.items()
            )
            cards.append(f'<figure class="person" data-id="{html.escape(entry.key)}">{picture}<figcaption><b>{html.escape(entry.label)}</b>{facts}</figcaption></figure>')
        return f'<h2>People</h2><div id="gallery">{"".join(cards) or "<p>No one was reported.</p>"}</div>'

    def _outputs_section(self, result: RunResult) -> str:
        outputs = {name: path for name, path in result.outputs.items() if path is not None}
        outputs.update(self.later)
        links = "".join(
            f'<li><a data-output="{name}" href="{html.escape(relative_to(path, self.target.parent))}">{html.escape(name)}: '
            f"{html.escape(relative_to(path, self.target.parent))}</a></li>"
            for name, path in sorted(outputs.items())
        )
        return f'<h2>Outputs</h2><ul id="outputs">{links}</ul>'

    def close(self, result: RunResult) -> Dict[str, Optional[Path]]:
        gallery = self._gallery(result)
        sections = []
        if self.kind == VIDEO_RUN:
            figures = result.figures()
            sections.append(self._run_section(result, figures.peak_concurrent, len(gallery)))
            sections.append(self._over_time(figures.people))
        else:
            sections.append(self._run_section(result, None, len(gallery)))
        sections.append(self._distributions(gallery))
        if self.kind == VIDEO_RUN and result.zones is not None:
            sections.append(self._zones_section(result, figures.occupancy))
        sections.append(self._gallery_section(gallery))
        sections.append(self._outputs_section(result))
        title = f"MiVOLO report: {result.info.name}"
        page = PAGE.format(title=html.escape(title), body="".join(sections))
        with atomic_path(self.target) as tmp:
            tmp.write_text(page, encoding="utf-8")
        return {"report_html": self.target}


PAGE = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; img-src data:; style-src 'unsafe-inline'; script-src 'unsafe-inline'">
<style>
body {{ font-family: sans-serif; margin: 1.5em; color: #222; max-width: 1100px; }}
table {{ border-collapse: collapse; margin: 0.5em 1em 1em 0; }}
th, td {{ border: 1px solid #ccc; padding: 2px 8px; text-align: left; font-size: 90%; }}
.tables {{ display: flex; flex-wrap: wrap; align-items: flex-start; }}
#gallery {{ display: flex; flex-wrap: wrap; gap: 10px; }}
figure.person {{ margin: 0; border: 1px solid #ccc; padding: 6px; width: 170px; font-size: 85%; }}
figure.person img {{ height: 128px; max-width: 160px; display: block; margin-bottom: 4px; }}
</style></head>
<body><h1>{title}</h1>{body}</body></html>
"""


def _add_arguments(group) -> None:
    group.add_argument(
        "--report",
        action="store_true",
        help="also write OUTPUT/<name>_report.html (images_report.html for images): the run, plots, zones and a "
        "gallery of every person, in one self-contained file",
    )


def _models(options) -> Dict[str, str]:
    def named(path) -> str:
        return Path(path).name if path else "the published default (Hugging Face hub)"

    return {"detector": named(getattr(options, "detector_weights", None)), "mivolo": named(getattr(options, "checkpoint", None))}


def _build(options, plan: OutputPlan):
    if not options.report:
        return None
    if plan.kind == VIDEO_RUN:
        later = {"summary_json": plan.path(f"{plan.name}_summary.json")}
    else:
        later = {"images_json": plan.json_path or plan.path(IMAGES_JSON_NAME)}
    name = IMAGE_RUN_NAME if plan.kind == IMAGE_RUN else plan.name
    return Report(plan.path(f"{name}_report.html"), plan.kind, options.no_face_crops, options.blur_faces, _models(options), later)


# before the summary and images.json, so that the summary lists it; it links them by their known names
SINK = SinkSpec(name="report", runs=(IMAGE_RUN, VIDEO_RUN), add_arguments=_add_arguments, build=_build, order=90)
