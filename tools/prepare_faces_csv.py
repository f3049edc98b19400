#!/usr/bin/env python
"""A folder of face images plus a labels CSV (path, age, gender) -> the benchmark annotation CSV."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import List, Optional

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mivolo.core.errors import run_command  # noqa: E402
from mivolo.evaluation.prepare import FaceBoxFinder, add_detector_arguments, prepare_faces_csv  # noqa: E402

EPILOG = """\
labels CSV: a header with path, age, gender (other columns are ignored); path is relative to
--images; age is a number, an age class such as 25;32, or -1; gender is M/F, male/female,
0/1 (0 = male) or -1. The face box is the whole image, or with --detector the most confident
detected face (the whole image when none is found).

example:
  python tools/prepare_faces_csv.py --images faces/ --labels faces/labels.csv \\
      --output faces/annotation/faces_test.csv
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="prepare_faces_csv.py",
        description=__doc__,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--images", required=True, type=Path, metavar="DIR", help="folder the label paths are relative to"
    )
    parser.add_argument("--labels", required=True, type=Path, metavar="CSV", help="labels CSV with path, age, gender")
    parser.add_argument("--output", required=True, type=Path, metavar="CSV", help="annotation CSV to write")
    add_detector_arguments(parser)
    return parser


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)

    def body() -> int:
        finder = FaceBoxFinder.from_weights(args.detector, args.device)
        summary = prepare_faces_csv(args.images, args.labels, args.output, finder, progress=not args.no_progress)
        print("\n".join(summary.lines(args.output)))
        return 0

    return run_command("prepare_faces_csv.py", body)


if __name__ == "__main__":
    sys.exit(main())
