"""What demo_advanced_reid.py does: run one video without and with each Re-ID model and compare.

Each run is the normal video pipeline (detector, BoT-SORT, MiVOLO) writing its outputs to its own
sub-folder; the comparison table goes to the output folder as markdown and CSV.

Ctrl-C or SIGTERM stops the whole comparison, not just the run it lands in: that run ends after
its current frame and keeps its outputs, no further model runs, and the table is written for
the runs done, the cut one marked as not completed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import List, Optional, Sequence

from mivolo.core.errors import MiVOLOError
from mivolo.core.runtime import Runtime
from mivolo.io.safe_output import ensure_writable_dir
from mivolo.reid.catalog import recommend
from mivolo.jobs.reid_comparison import ComparisonRow, comparison_row, read_mot, write_tables
from mivolo.reid.encoder import load_reid_encoder
from mivolo.tracking.merge import DEFAULT_MERGE_THRESHOLD
from mivolo.jobs.crossing_scene import write_crossing_video
from mivolo.jobs.reid_setup import download_model
from mivolo.reid import store

NO_REID = "no Re-ID"
QUICK_DEMO_GOALS = ("edge", "balanced")  # the models --quick-demo and --setup-only fetch by default


@dataclass(frozen=True)
class ComparisonPlan:
    video: Path
    models: Sequence[str]
    output_dir: Path
    ground_truth: Optional[Path] = None
    merge_threshold: float = DEFAULT_MERGE_THRESHOLD
    runtime: Optional[Runtime] = None
    models_dir: Optional[Path] = None
    tracker: str = "botsort.yaml"
    progress: bool = True


def default_models() -> List[str]:
    return [recommend(goal).card.name for goal in QUICK_DEMO_GOALS]


def models_to_compare(names: Optional[Sequence[str]], models_dir=None) -> List[str]:
    """The names given, checked to be on this machine; none given: every model that is."""
    if names:
        for name in names:
            store.resolve_model(name, models_dir)  # one-line error with the download hint if missing
        return list(names)
    present = sorted(store.local_names(models_dir))
    if not present:
        raise MiVOLOError(
            f"no Re-ID model in {store.models_dir(models_dir)}: run with --setup-only, "
            "or setup_reid_models.py --download NAME"
        )
    return present


def setup_models(names: Sequence[str], models_dir=None) -> List[str]:
    """Download every catalog model of `names` that is not here yet; returns one message per model."""
    return [download_model(name, models_dir) for name in names]


def run_folder_name(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")


@dataclass(frozen=True)
class Comparison:
    rows: List[ComparisonRow]  # one per run done, in order: no Re-ID, then each model
    tables: List[Path]  # reid_comparison.md and .csv
    stopped_by: Optional[str] = None  # "SIGINT" or "SIGTERM" when a signal ended the comparison early


def compare(plan: ComparisonPlan, predictor) -> Comparison:
    from mivolo.io.sources import file_sources
    from mivolo.tracking.tracker import load_tracker_config
    from mivolo.jobs.video_job import StopRequest, VideoJobSettings, run_video

    source = file_sources([plan.video])[0]
    ground_truth = read_mot(plan.ground_truth) if plan.ground_truth else None
    tracker = load_tracker_config(plan.tracker)
    if tracker.tracker_type != "botsort":
        raise MiVOLOError(f"{tracker.path}: Re-ID comparison needs a BoT-SORT tracker config")
    # which model each run uses is --compare's: the baseline has none even where the config
    # turns Re-ID on (as it does after setup_reid_models.py --use); the others get their encoder
    tracker = replace(tracker, with_reid=False)
    rows: List[ComparisonRow] = []
    # a signal during a run is that run's own (it stops after the current frame); this catches
    # the ones that come between runs, while a model loads, a row is computed or a table written
    with StopRequest() as between_runs:
        for model in [None, *plan.models]:
            label = model or NO_REID
            encoder = load_reid_encoder(model, models_dir=plan.models_dir, runtime=plan.runtime) if model else None
            if between_runs.signal_name is not None:
                break
            run_dir = ensure_writable_dir(plan.output_dir / run_folder_name(label))
            settings = VideoJobSettings(output_dir=run_dir, tracker=tracker, progress=plan.progress)
            result = run_video(predictor, source, settings, encoder)
            rows.append(comparison_row(label, result, plan.video, encoder, ground_truth, plan.merge_threshold))
            if rows[-1].stopped_by is not None:
                break
        tables = write_tables(rows, plan.output_dir)
    stopped_by = next((row.stopped_by for row in rows if row.stopped_by), between_runs.signal_name)
    return Comparison(rows, tables, stopped_by)


def quick_demo_inputs(output_dir: Path):
    """The generated crossing scene (mivolo.jobs.crossing_scene) and its ground truth, in OUTPUT/quick_demo/."""
    folder = Path(output_dir) / "quick_demo"
    return write_crossing_video(folder / "crossing.avi", folder / "crossing_gt.txt")
