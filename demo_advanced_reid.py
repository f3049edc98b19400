#!/usr/bin/env python
"""Run a video without and with each Re-ID model and compare them: see `python demo_advanced_reid.py --help`."""

import argparse
import logging
import sys
from pathlib import Path

from mivolo.core.errors import MiVOLOError, run_command

DESCRIPTION = """\
Track the same video with no Re-ID and with each named Re-ID model, then print (and write as
reid_comparison.md / .csv in --output) a side-by-side table: tracks created, unique people
after the Re-ID merge, ID switches against a MOT ground truth (--gt), and FPS.
"""

EPILOG = """\
examples:
  python demo_advanced_reid.py --setup-only                       # fetch the recommended models
  python demo_advanced_reid.py --quick-demo                       # generated crossing scene, with ground truth
  python demo_advanced_reid.py --input video.mp4 --compare osnet_x0_25_msmt17 osnet_ain_x1_0_msmt17 --gt gt.txt

--compare with no names compares every Re-ID model on this machine.
exit codes: 0 done, 2 bad input, weights or network problem.
"""


def build_parser() -> argparse.ArgumentParser:
    from mivolo.cli.demo import add_model_arguments

    parser = argparse.ArgumentParser(
        prog="demo_advanced_reid.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", metavar="VIDEO", help="the video to track")
    parser.add_argument("--compare", nargs="*", metavar="NAME", help="Re-ID models (names or weight files) to compare")
    parser.add_argument(
        "--gt", metavar="MOT", help="MOTChallenge ground truth (frame,id,left,top,width,height,...) for ID switches"
    )
    parser.add_argument(
        "--output",
        default="output/reid_comparison",
        metavar="DIR",
        help="where runs and tables go (default: %(default)s)",
    )
    parser.add_argument(
        "--merge-threshold", type=float, default=0.75, help="cosine similarity for the Re-ID merge (default 0.75)"
    )
    parser.add_argument("--tracker", default="botsort.yaml", help="BoT-SORT config (default: trackers/botsort.yaml)")
    parser.add_argument(
        "--models-dir", metavar="DIR", help="Re-ID models folder (default: $MIVOLO_REID_DIR or models/reid)"
    )
    parser.add_argument(
        "--setup-only", action="store_true", help="download the models to compare (default: recommended) and stop"
    )
    parser.add_argument(
        "--quick-demo", action="store_true", help="compare on a generated crossing scene with its ground truth"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="log details and show tracebacks")
    add_model_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from mivolo.io.safe_output import ensure_writable_dir
    from mivolo.model.predictor import Predictor
    from mivolo.jobs import reid_compare as advanced_demo
    from mivolo.jobs.reid_comparison import markdown_table

    if args.setup_only:
        for message in advanced_demo.setup_models(args.compare or advanced_demo.default_models(), args.models_dir):
            print(message)
        return 0
    output_dir = ensure_writable_dir(args.output)
    video, ground_truth = (Path(args.input) if args.input else None), (Path(args.gt) if args.gt else None)
    names = args.compare
    if args.quick_demo:
        names = names or advanced_demo.default_models()
        advanced_demo.setup_models(names, args.models_dir)
        video, ground_truth = advanced_demo.quick_demo_inputs(output_dir)
    if video is None:
        raise MiVOLOError("give --input VIDEO (or --quick-demo, or --setup-only)")
    if not video.is_file():
        raise MiVOLOError(f"{video}: video not found")
    plan = advanced_demo.ComparisonPlan(
        video=video,
        models=advanced_demo.models_to_compare(names, args.models_dir),
        output_dir=output_dir,
        ground_truth=ground_truth,
        merge_threshold=args.merge_threshold,
        device=args.device,
        models_dir=args.models_dir,
        tracker=args.tracker,
        progress=not args.no_progress,
    )
    rows = advanced_demo.compare(plan, Predictor(args, verbose=args.verbose))
    print(markdown_table(rows), end="")
    print(f"tables: {output_dir / 'reid_comparison.md'}, {output_dir / 'reid_comparison.csv'}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    return run_command("demo_advanced_reid.py", lambda: run(args), args.verbose)


if __name__ == "__main__":
    sys.exit(main())
