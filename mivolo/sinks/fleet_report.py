"""--report with --engine ray: OUTPUT/fleet_report.html, the fleet summary as a page a person
reads (the same self-contained page as a video's report: no script, no network). It holds the
fleet's totals, the age distribution and gender split of its people, and one row per video
(status, people, frames, speed, worker, error) linking the video's summary and report."""

from __future__ import annotations

import html
from pathlib import Path

from mivolo.core.demographics import AGE_BUCKETS
from mivolo.io.safe_output import atomic_path
from mivolo.sinks.report import PAGE, cell_text, facts_table
from mivolo.sinks.svg_charts import PALETTE, stacked_bars

FLEET_REPORT_NAME = "fleet_report.html"
TOTALS = (
    ("videos", "Videos"), ("done", "Done"), ("skipped", "Skipped (complete before)"), ("failed", "Failed"),
    ("interrupted", "Interrupted"), ("pending", "Not started"), ("people", "People"), ("frames", "Frames"),
    ("seconds", "Fleet time (s)"), ("fps", "Fleet speed (frames/s)"), ("workers", "Workers"), ("stopped_by", "Stopped by"),
)  # fmt: skip
VIDEO_COLUMNS = (
    ("status", "status"), ("attempts", "attempts"), ("people", "people"), ("frames", "frames"), ("fps", "frames/s"),
    ("worker", "worker"), ("node", "node"), ("error", "error"),
)  # fmt: skip


def _link(output_dir: Path, relative: str, text: str, kind: str) -> str:
    if not (output_dir / relative).is_file():
        return ""
    return f'<a data-output="{kind}" href="{html.escape(relative)}">{html.escape(text)}</a>'


def _videos_table(document: dict, output_dir: Path) -> str:
    header = "<tr><th>video</th>" + "".join(f"<th>{label}</th>" for _, label in VIDEO_COLUMNS) + "<th>outputs</th></tr>"
    rows = []
    for video in document["videos"]:
        links = []
        if video["summary"]:
            links.append(_link(output_dir, video["summary"], "summary", "summary_json"))
            report = video["summary"].removesuffix("_summary.json") + "_report.html"
            links.append(_link(output_dir, report, "report", "report_html"))
        cells = "".join(f'<td data-key="{key}">{cell_text(video[key])}</td>' for key, _ in VIDEO_COLUMNS)
        rows.append(
            f'<tr data-video="{html.escape(video["name"])}"><th>{html.escape(video["name"])}</th>{cells}'
            f'<td>{" ".join(link for link in links if link)}</td></tr>'
        )
    return f'<h2>Videos</h2><table id="videos">{header}{"".join(rows)}</table>'


def _people_section(totals: dict) -> str:
    names = [name for name, _, _ in AGE_BUCKETS]
    counts = [totals["age_buckets"].get(name, 0) for name in names]
    chart = stacked_bars("age distribution", [n.removeprefix("age_") for n in names], {"people": counts}, PALETTE, "people")
    genders = [(f"gender_{name}", name, count) for name, count in sorted(totals["gender"].items())]
    buckets = [(name, name.removeprefix("age_").replace("_", " "), totals["age_buckets"].get(name, 0)) for name in names]
    return (
        "<h2>People across the fleet</h2>" + chart
        + '<div class="tables">' + facts_table("genders", genders) + facts_table("age_buckets", buckets) + "</div>"
    )  # fmt: skip


def write_fleet_report(output_dir: Path, document: dict, summary_name: str) -> Path:
    """OUTPUT/fleet_report.html from the fleet summary's document (mivolo.jobs.fleet.FleetReport)."""
    totals = document["totals"]
    body = (
        "<h2>Fleet</h2>" + facts_table("totals", [(key, label, totals[key]) for key, label in TOTALS])
        + _people_section(totals) + _videos_table(document, output_dir)
        + f'<h2>Outputs</h2><ul id="outputs"><li>{_link(Path(output_dir), summary_name, summary_name, "fleet_summary")}</li></ul>'
    )  # fmt: skip
    target = Path(output_dir) / FLEET_REPORT_NAME
    with atomic_path(target) as tmp:
        tmp.write_text(PAGE.format(title="MiVOLO fleet report", body=body), encoding="utf-8")
    return target
