#!/usr/bin/env python
"""UTKFace (files named age_gender_race_date.jpg) -> the benchmark annotation CSV for eval_pretrained.py."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mivolo.core.errors import run_command  # noqa: E402
from mivolo.evaluation.prepare import FaceBoxFinder, add_detector_arguments, prepare_utk  # noqa: E402

EPILOG = """\
The face box is the whole aligned image, or with --detector the most confident face the
detector finds (the whole image when it finds none). gender 0 -> M, 1 -> F.

example:
  python tools/prepare_utk.py --images data/utk/UTKFace --output data/utk/annotation/utk_test.csv
  python eval_pretrained.py --dataset_images data/utk/UTKFace --dataset_annotations data/utk/annotation \\
      --dataset_name utk --split test --checkpoint model.pth.tar
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_utk.py", description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--images", required=True, type=Path, metavar="DIR", help="UTKFace images (searched recursively)"
    )
    parser.add_argument("--output", required=True, type=Path, metavar="CSV", help="annotation CSV to write")
    add_detector_arguments(parser)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        finder = FaceBoxFinder.from_weights(args.detector, args.device)
        summary = prepare_utk(args.images, args.output, finder, progress=not args.no_progress)
        print("\n".join(summary.lines(args.output)))
        return 0

    return run_command("prepare_utk.py", body)


if __name__ == "__main__":
    sys.exit(main())
