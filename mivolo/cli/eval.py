"""Command line of eval_pretrained.py (`mivolo eval`): a checkpoint's published benchmark figures."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from mivolo.cli.common import add_run_arguments, add_runtime_arguments, configure_logging
from mivolo.core.errors import run_command
from mivolo.evaluation.names import DATASET_NAMES, RESULTS_FORMATS

if TYPE_CHECKING:  # the evaluation imports torch: only once there is work to do
    from mivolo.evaluation.dataset import DatasetReport
    from mivolo.evaluation.runner import EvalOptions

PROG = "eval_pretrained.py"
RESULT_DELIMITER = "--result"  # the published script prints this line before the JSON
BAD_ROWS_SHOWN = 20

DESCRIPTION = """\
Compute the published MiVOLO benchmark figures for a checkpoint: age MAE, CS@L and CE@20
(regression sets: utk, imdb, lagenda, agedb, cacd), age-class accuracy (fairface, adience)
and gender accuracy, plus timing. The JSON is printed after a `--result` line.

Annotations are CSV files with columns img_name, age, gender, face_x0, face_y0, face_x1,
face_y1 and optionally person_x0, person_y0, person_x1, person_y1 (xyxy pixels, -1 = absent).
age is a number, an age class such as "25;32", or -1; gender is M/0 (male), -1 (unknown) or
anything else (female). Crops and masking follow the published evaluation, not inference.
"""

EPILOG = """\
result keys: agetop1 (MAE in years, or age-class accuracy in %), csl (CS@L, fraction),
max_error (CE@20, fraction), gendertop1 (%), per_age_error (only with --draw-hist),
mean_inference_time / mean_preprocessing_time (ms per image); aliases mae, cs_at_l,
ce_at_20, gender_accuracy, age_class_accuracy, per_age_mae.

examples:
  python eval_pretrained.py --dataset_images data/lagenda --dataset_annotations data/lagenda/annotation \\
      --dataset_name lagenda --checkpoint models/mivolo_imdb.pth.tar --with-persons --batch-size 64
  python eval_pretrained.py --dataset_images data/utk --dataset_annotations data/utk/annotation \\
      --dataset_name utk --split test --checkpoint models/model_utk_age_gender.pth.tar --results-file utk.json \\
      --draw-hist

img_name must lead to a file inside --dataset_images (no absolute path, no way out through .. or a
symlink); a row that does not, a line that is not UTF-8 or not CSV, is a bad row like any other.

exit codes: 0 done, 2 bad input (every bad row is named by file and line; --skip-bad leaves them out).
"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = parser.add_argument_group("data")
    data.add_argument(
        "--dataset_images",
        required=True,
        metavar="DIR",
        help="folder the CSV img_name paths are relative to (and must stay inside)",
    )
    data.add_argument(
        "--dataset_annotations",
        required=True,
        metavar="PATH",
        help="folder of annotation CSVs (searched recursively) or one CSV",
    )
    data.add_argument(
        "--dataset_name", required=True, choices=DATASET_NAMES, help="benchmark: decides regression vs age classes"
    )
    data.add_argument(
        "--split",
        default="validation",
        help="comma-separated names matched as substrings of the CSV file names (default: validation)",
    )
    data.add_argument(
        "--skip-bad", action="store_true", help="leave out bad rows (named on stderr) instead of stopping"
    )

    model = parser.add_argument_group("model")
    model.add_argument(
        "--checkpoint", required=True, type=Path, metavar="PATH", help="MiVOLO .pth.tar, .safetensors or folder"
    )
    add_runtime_arguments(model)
    model.add_argument(
        "--with-persons", action="store_true", help="use body crops (needs person columns and a face+body model)"
    )
    model.add_argument("--disable-faces", action="store_true", help="bodies only (needs --with-persons)")

    run = parser.add_argument_group("run")
    run.add_argument("--batch-size", type=int, default=64, metavar="N", help="batch size (default: 64)")
    run.add_argument(
        "--workers", type=int, default=4, metavar="N", help="data loading processes, 0 = in-process (default: 4)"
    )
    run.add_argument("--warmup-steps", type=int, default=2, metavar="N", help="untimed warm-up batches (default: 2)")
    run.add_argument("--l-for-cs", type=int, default=5, metavar="L", help="L of the cumulative score CS@L (default: 5)")
    add_run_arguments(run)

    output = parser.add_argument_group("output")
    output.add_argument(
        "--draw-hist", action="store_true", help="plot the error per true age (regression sets) to --hist-file"
    )
    output.add_argument(
        "--hist-file", type=Path, default=Path("age_error.png"), metavar="PNG", help="(default: age_error.png)"
    )
    output.add_argument(
        "--results-file",
        type=Path,
        default=None,
        metavar="FILENAME",
        help="also write the results here; the extension .csv or .json picks the format",
    )
    output.add_argument(
        "--results-format",
        default=None,
        choices=RESULTS_FORMATS,
        help="format of a --results-file with another extension (default: from the extension)",
    )
    return parser


def _print_report(report: "DatasetReport", skip_bad: bool) -> None:
    err = sys.stderr
    print(
        f"Annotations: {report.rows} rows in {len(report.csv_files)} file(s); {report.samples} samples evaluated",
        file=err,
    )
    for reason, n in sorted(report.not_evaluated.items()):
        print(f"  not evaluated: {n} {reason}", file=err)
    if report.bad_rows and skip_bad:
        for bad in report.bad_rows[:BAD_ROWS_SHOWN]:
            print(f"  skipped bad row {bad}", file=err)
        if len(report.bad_rows) > BAD_ROWS_SHOWN:
            print(f"  ... and {len(report.bad_rows) - BAD_ROWS_SHOWN} more", file=err)
        print(f"Skipped {len(report.bad_rows)} bad rows (--skip-bad)", file=err)


def _summary_line(results: dict) -> str:
    if "mae" in results:
        line = (
            f" * Age MAE {results['mae']:.3f}  CS@{results['l_for_cs']} {results['cs_at_l'] * 100:.2f}%"
            f"  CE@20 {results['ce_at_20'] * 100:.2f}%"
        )
    elif "age_class_accuracy" in results:
        line = f" * Age class accuracy {results['age_class_accuracy']:.2f}%"
    else:
        line = " * no age labels"
    if "gender_accuracy" in results:
        line += f"  Gender accuracy {results['gender_accuracy']:.2f}%"
    return line + (
        f"  ({results['samples']} samples, {results['images_per_second']:.1f} img/s; per image "
        f"{results['mean_preprocessing_time']:.2f} ms waiting for data, "
        f"{results['mean_inference_time']:.2f} ms inference)"
    )


def run(options: "EvalOptions") -> int:
    """Evaluate, print the JSON after `--result`, write the results file and the plot."""
    from mivolo.evaluation.runner import evaluate, plot_age_errors, results_format_for, write_results

    results, summary, report = evaluate(options)
    _print_report(report, options.skip_bad)
    print(_summary_line(results), file=sys.stderr)
    if options.draw_hist:
        if summary.mae is None:
            print(f"{PROG}: --draw-hist: no plot, {options.dataset_name} has age classes, not ages", file=sys.stderr)
        else:
            title = f"{options.dataset_name} ({','.join(options.splits)}): error per true age, {options.checkpoint.name}"
            print(f"Error per age plot: {plot_age_errors(summary, options.hist_file, title)}", file=sys.stderr)
    if options.results_file is not None:
        write_results(options.results_file, results, results_format_for(options))
        print(f"Results file: {options.results_file}", file=sys.stderr)
    print(f"{RESULT_DELIMITER}\n{json.dumps(results, indent=4, allow_nan=False)}")
    return 0


def main(argv: Optional[List[str]] = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    configure_logging(args.verbose)
    return run_command(prog, lambda: run(options_of(args)), args.verbose)


def options_of(args: argparse.Namespace) -> "EvalOptions":
    from mivolo.evaluation.runner import EvalOptions

    return EvalOptions(
        dataset_images=Path(args.dataset_images),
        dataset_annotations=Path(args.dataset_annotations),
        dataset_name=args.dataset_name,
        splits=tuple(name.strip() for name in args.split.split(",") if name.strip()),
        checkpoint=args.checkpoint,
        batch_size=args.batch_size,
        workers=args.workers,
        device=args.device,
        l_for_cs=args.l_for_cs,
        half=args.half,
        with_persons=args.with_persons,
        disable_faces=args.disable_faces,
        draw_hist=args.draw_hist,
        hist_file=args.hist_file,
        results_file=args.results_file,
        results_format=args.results_format,
        skip_bad=args.skip_bad,
        warmup_steps=args.warmup_steps,
        progress=not args.no_progress,
        backend=args.backend,
    )
