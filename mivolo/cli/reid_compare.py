"""Run a video without and with each Re-ID model and compare them: see `python demo_advanced_reid.py --help`."""

import argparse
from pathlib import Path

from mivolo.cli.common import (
    add_model_arguments,
    add_run_arguments,
    check_model_arguments,
    configure_logging,
    runtime_of,
)
from mivolo.core.errors import MiVOLOError, run_command
from mivolo.tracking.merge import DEFAULT_MERGE_THRESHOLD
from mivolo.tracking.tracker import DEFAULT_TRACKER

PROG = "demo_advanced_reid.py"

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
Ctrl-C or SIGTERM stops the whole comparison: the run it lands in ends after the current frame,
no further model runs, and the tables hold the runs done (a cut run says "completed: no").
exit codes: 0 done, 2 bad input, weights or network problem, 130/143 stopped by SIGINT/SIGTERM.
"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
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
        "--merge-threshold",
        type=float,
        default=DEFAULT_MERGE_THRESHOLD,
        help=f"cosine similarity for the Re-ID merge (default {DEFAULT_MERGE_THRESHOLD})",
    )
    parser.add_argument(
        "--tracker", default=DEFAULT_TRACKER, metavar="NAME|PATH", help=f"BoT-SORT config (default {DEFAULT_TRACKER})"
    )
    parser.add_argument(
        "--models-dir",
        metavar="DIR",
        help="Re-ID models folder (default: $MIVOLO_REID_DIR, else <data>/reid: see setup_reid_models.py --help)",
    )
    parser.add_argument(
        "--setup-only", action="store_true", help="download the models to compare (default: recommended) and stop"
    )
    parser.add_argument(
        "--quick-demo", action="store_true", help="compare on a generated crossing scene with its ground truth"
    )
    add_model_arguments(parser)
    add_run_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from mivolo.cli.demo import EXIT_BY_SIGNAL
    from mivolo.io.safe_output import ensure_writable_dir
    from mivolo.model.predictor import Predictor
    from mivolo.jobs import reid_compare as advanced_demo
    from mivolo.jobs.reid_comparison import markdown_table

    if args.setup_only:
        for message in advanced_demo.setup_models(args.compare or advanced_demo.default_models(), args.models_dir):
            print(message)
        return 0
    check_model_arguments(args)
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
    runtime = runtime_of(args)
    plan = advanced_demo.ComparisonPlan(
        video=video,
        models=advanced_demo.models_to_compare(names, args.models_dir),
        output_dir=output_dir,
        ground_truth=ground_truth,
        merge_threshold=args.merge_threshold,
        runtime=runtime,
        models_dir=args.models_dir,
        tracker=args.tracker,
        progress=not args.no_progress,
    )
    predictor = Predictor(
        detector_weights=args.detector_weights,
        checkpoint=args.checkpoint,
        runtime=runtime,
        with_persons=args.with_persons,
        disable_faces=args.disable_faces,
        detector_imgsz=args.detector_imgsz,
        verbose=args.verbose,
    )
    comparison = advanced_demo.compare(plan, predictor)
    print(markdown_table(comparison.rows), end="")
    print(f"tables: {', '.join(str(path) for path in comparison.tables)}")
    if comparison.stopped_by is None:
        return 0
    print(f"Comparison stopped ({comparison.stopped_by}) after {len(comparison.rows)} of {len(plan.models) + 1} runs")
    return EXIT_BY_SIGNAL[comparison.stopped_by]


def main(argv=None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    configure_logging(args.verbose)
    return run_command(prog, lambda: run(args), args.verbose)

