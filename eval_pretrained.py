#!/usr/bin/env python
"""A MiVOLO checkpoint's accuracy on the standard age/gender benchmarks: see `--help`."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from mivolo.cli.demo import add_runtime_arguments
from mivolo.evaluation.metrics import DATASET_NAMES
from mivolo.evaluation.runner import RESULTS_FORMATS, EvalOptions, run_cli

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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="eval_pretrained.py",
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
    run.add_argument("--no-progress", action="store_true", help="no progress bars")
    run.add_argument("--verbose", action="store_true", help="show tracebacks")

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


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    options = EvalOptions(
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
    return run_cli(options, verbose=args.verbose)


if __name__ == "__main__":
    sys.exit(main())
