"""Command line of demo.py: parse, validate cheaply, then run the image or video job."""

from __future__ import annotations

import argparse
import logging
import sys
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, List, Optional

from mivolo.tracking.aggregation import DEFAULT_MIN_TRACK_LENGTH, AggregationMode, AggregationSettings, GenderRule
from mivolo.core.errors import MiVOLOError, run_command
from mivolo.io.safe_output import ensure_writable_dir
from mivolo.tracking.merge import DEFAULT_MERGE_THRESHOLD
from mivolo.io.sources import VideoSource, resolve_inputs
from mivolo.sinks.registry import add_sink_arguments

if TYPE_CHECKING:  # the models' modules load torch and ultralytics: only once there is work to do
    from mivolo.jobs.pipeline import PipelineSettings
    from mivolo.model.predictor import Predictor
    from mivolo.tracking.tracker import AppearanceEncoder
    from mivolo.jobs.video_job import VideoJobSettings, VideoRunResult

DESCRIPTION = """\
Detect people in images and videos, estimate each one's age and gender with MiVOLO, and write
annotated output plus JSON of the results.

--input may be an image, a video file, a folder of either (searched recursively), an rtsp/http
stream, a webcam index (0, 1, ...) or a page URL that yt-dlp understands (YouTube, ...).

In videos every person is tracked (BoT-SORT or ByteTrack) with ONE ID for their face and body;
labels and exports show each track's aggregated age and gender. Each video always gets
OUTPUT/<name>_summary.json (one entry per person) and OUTPUT/<name>_mot.txt (MOTChallenge tracks).

Without --detector-weights / --checkpoint the public weights are fetched once from the
Hugging Face hub (YOLOv8x person+face detector, MiVOLO v2) and cached.
"""

EPILOG = """\
examples:
  python demo.py --input photo.jpg --output out --draw
  python demo.py --input photos/ --output out --with-persons --device cpu
  python demo.py --input video.mp4 --output out --draw --save-json --save-crops --tracker bytetrack.yaml
  python demo.py --input videos/ --output out --with-persons --confidence-based --skip-frames 2
  python demo.py --input "https://www.youtube.com/watch?v=..." --output out --draw --max-height 720
  python demo.py --input rtsp://camera/stream --output out --save-json   (Ctrl-C stops and saves)
  python demo.py --input video.mp4 --output out --reid osnet_x0_25_msmt17 --reid-merge
  python demo.py --input video.mp4 --output out --draw --device cuda --half --batch 16 --tracker botsort_static.yaml

Ctrl-C or SIGTERM during a video stops after the current frame and still writes the video,
the JSON files and the summary up to that frame.

exit codes: 0 done (bad files in a folder are skipped and counted), 2 bad input or weights,
130/143 stopped by SIGINT/SIGTERM (outputs written).
"""


def add_runtime_arguments(group) -> None:
    """--device, --half and --backend: where and how the models run (every tool that runs MiVOLO)."""
    group.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: first GPU, else cpu)")
    group.add_argument("--half", action="store_true", help="fp16 inference on GPU (ignored on cpu)")
    group.add_argument(
        "--backend",
        choices=("torch", "onnx", "openvino"),
        default=None,
        help="inference runtime (default: from the weight files: .onnx -> onnx, .xml or *_openvino_model -> "
        "openvino, else torch); export with tools/export.py",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    models = parser.add_argument_group("models")
    models.add_argument("--detector-weights", metavar="PATH", help="YOLOv8 person+face .pt (default: hub download)")
    models.add_argument(
        "--checkpoint", metavar="PATH", help="MiVOLO .pth.tar, .safetensors or folder (default: MiVOLO v2)"
    )
    models.add_argument("--with-persons", action="store_true", help="use body crops as well as faces")
    models.add_argument("--disable-faces", action="store_true", help="estimate from bodies only (needs --with-persons)")
    add_runtime_arguments(models)
    models.add_argument(
        "--detector-imgsz",
        type=int,
        default=640,
        metavar="N",
        help="detector input size; smaller is faster (default 640)",
    )


def add_video_arguments(parser: argparse.ArgumentParser) -> None:
    video = parser.add_argument_group("video")
    video.add_argument(
        "--skip-frames",
        type=int,
        default=0,
        metavar="N",
        help="analyse every (N+1)-th frame; the video output keeps every frame (default 0)",
    )
    video.add_argument(
        "--max-height",
        type=int,
        default=1080,
        metavar="PX",
        help="for page URLs (yt-dlp): highest video resolution to fetch (default 1080)",
    )
    video.add_argument("--no-progress", action="store_true", help="no progress bar")

    tracking = parser.add_argument_group("tracking and aggregation (videos)")
    tracking.add_argument(
        "--tracker",
        default="botsort.yaml",
        metavar="NAME|PATH",
        help="botsort.yaml, bytetrack.yaml (from trackers/) or the path to your own copy (default botsort.yaml)",
    )
    tracking.add_argument(
        "--reid",
        metavar="NAME|PATH",
        help="Re-ID model for BoT-SORT's appearance matching: a name from setup_reid_models.py --list "
        "(downloaded or imported) or a weight file; overrides the tracker YAML's model and turns with_reid on",
    )
    tracking.add_argument(
        "--reid-merge",
        nargs="?",
        type=float,
        const=DEFAULT_MERGE_THRESHOLD,
        default=None,
        metavar="THRESHOLD",
        help="after the video, join track fragments of one person (someone away longer than the tracker's "
        f"buffer) whose mean Re-ID embeddings reach this cosine similarity (default {DEFAULT_MERGE_THRESHOLD}); "
        "needs --reid or a model in the tracker YAML",
    )
    tracking.add_argument(
        "--min-track-length",
        type=int,
        default=DEFAULT_MIN_TRACK_LENGTH,
        metavar="N",
        help=f"tracks seen in fewer analysed frames are not reported as people (default {DEFAULT_MIN_TRACK_LENGTH})",
    )
    tracking.add_argument(
        "--confidence-based",
        action="store_true",
        help="show each track's single best prediction (0.7 * detection conf + 0.3 * gender conf) among those "
        "passing --min-detection-conf and --min-gender-conf; a person is unknown until one passes both",
    )
    tracking.add_argument(
        "--min-detection-conf", type=float, default=0.5, metavar="P", help="gate for --confidence-based (default 0.5)"
    )
    tracking.add_argument(
        "--min-gender-conf", type=float, default=0.6, metavar="P", help="gate for --confidence-based (default 0.6)"
    )
    tracking.add_argument(
        "--gender-vote",
        choices=[rule.value for rule in GenderRule],
        default=GenderRule.COUNT.value,
        help="how a track's gender is voted (default and smoothing modes): count = the most frequent label, as the "
        "original (ties go to the higher summed score); score = labels weighted by their scores (default count)",
    )
    tracking.add_argument(
        "--temporal-smoothing", action="store_true", help="moving average over the last --smoothing-window frames"
    )
    tracking.add_argument(
        "--smoothing-window", type=int, default=10, metavar="N", help="frames in the moving average (default 10)"
    )
    tracking.add_argument(
        "--global-smoothing",
        action="store_true",
        help="one prediction per track over the whole video, written to every frame of the JSON at the end",
    )

    speed = parser.add_argument_group("speed (videos)")
    speed.add_argument(
        "--batch",
        type=int,
        default=None,
        metavar="N",
        help="analysed frames per detector call and per MiVOLO batch (default 8 on a GPU, 1 on the CPU)",
    )
    speed.add_argument(
        "--exact-preprocessing",
        action="store_true",
        help="crop and letterbox with OpenCV on the CPU, exactly as published (the default on the CPU; "
        "on a GPU the crops are otherwise built on the device: ages within 0.25 years, gender scores within 0.002)",
    )
    speed.add_argument(
        "--sequential",
        action="store_true",
        help="the unoptimised path: one frame at a time, exact preprocessing, drawing in the main thread",
    )
    speed.add_argument("--compile", action="store_true", help="torch.compile the MiVOLO network (GPU; slow first frames)")
    speed.add_argument(
        "--scripted-detections",
        type=int,
        default=None,
        metavar="K",
        help="benchmarks: run the detector but replace its boxes with K walking people (body + face) per frame",
    )

    export = parser.add_argument_group("export")
    add_sink_arguments(export)
    export.add_argument(
        "--json-output-path",
        metavar="PATH",
        help="where the JSON goes (default OUTPUT/images.json, OUTPUT/<name>_frames.json); a folder when the input gives several",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input", required=True, metavar="PATH|URL", help="image, video, folder, stream URL, webcam index or page URL"
    )
    parser.add_argument("--output", default="output", metavar="DIR", help="output folder (default: output)")
    parser.add_argument("--verbose", action="store_true", help="log details and show tracebacks")
    add_model_arguments(parser)
    add_video_arguments(parser)
    return parser


def aggregation_settings(args: argparse.Namespace) -> AggregationSettings:
    """The aggregation mode; --temporal-smoothing with --global-smoothing (the earlier fork's
    spelling of global smoothing) means global smoothing."""
    if args.confidence_based and (args.temporal_smoothing or args.global_smoothing):
        raise MiVOLOError("--confidence-based cannot be combined with --temporal-smoothing or --global-smoothing")
    for name in ("min_detection_conf", "min_gender_conf"):
        if not 0.0 <= getattr(args, name) <= 1.0:
            raise MiVOLOError(f"--{name.replace('_', '-')} must be between 0 and 1")
    if args.smoothing_window < 1:
        raise MiVOLOError("--smoothing-window must be at least 1")
    if args.global_smoothing:
        mode = AggregationMode.GLOBAL
    elif args.temporal_smoothing:
        mode = AggregationMode.TEMPORAL
    elif args.confidence_based:
        mode = AggregationMode.CONFIDENCE
    else:
        mode = AggregationMode.DEFAULT
    return AggregationSettings(
        mode, args.min_detection_conf, args.min_gender_conf, args.smoothing_window, GenderRule(args.gender_vote)
    )


def check_counts(args: argparse.Namespace) -> None:
    for flag, value, minimum in (
        ("--skip-frames", args.skip_frames, 0),
        ("--min-track-length", args.min_track_length, 1),
        ("--crop-every", args.crop_every, 0),
        ("--max-height", args.max_height, 1),
        ("--batch", 1 if args.batch is None else args.batch, 1),
        ("--scripted-detections", args.scripted_detections or 0, 0),
    ):
        if value < minimum:
            raise MiVOLOError(f"{flag} must be at least {minimum}, got {value}")


def video_settings(args: argparse.Namespace, output_dir: Path, json_file: Optional[Path]) -> VideoJobSettings:
    from mivolo.tracking.tracker import load_tracker_config
    from mivolo.jobs.video_job import VideoJobSettings

    return VideoJobSettings(
        output_dir=output_dir,
        tracker=load_tracker_config(args.tracker),
        aggregation=aggregation_settings(args),
        outputs=args,
        json_path=json_file,
        skip_frames=args.skip_frames,
        min_track_length=args.min_track_length,
        max_height=args.max_height,
        progress=not args.no_progress,
        reid_merge_threshold=args.reid_merge,
    )


def pipeline_settings(args: argparse.Namespace, device) -> PipelineSettings:
    from mivolo.jobs.pipeline import PipelineSettings

    if args.sequential:
        return PipelineSettings()
    batch = args.batch if args.batch is not None else (8 if device.type == "cuda" else 1)
    return PipelineSettings.optimised(device, batch, True if args.exact_preprocessing else None, args.compile)


def checked_reid_model(args: argparse.Namespace, settings: VideoJobSettings) -> Optional[str]:
    """The Re-ID model of --reid or the tracker YAML (None without one), checked against --reid-merge."""
    from mivolo.tracking.tracker import reid_model_name

    name = reid_model_name(settings.tracker, args.reid)
    if args.reid_merge is not None and name is None:
        raise MiVOLOError("--reid-merge needs a Re-ID model: pass --reid NAME|PATH or set model in the tracker YAML")
    return name


def load_reid(name: Optional[str], device: Optional[str]) -> Optional[AppearanceEncoder]:
    """The Re-ID encoder, announced with its embedding size; None without a model."""
    if name is None:
        return None
    from mivolo.reid import load_reid_encoder

    encoder = load_reid_encoder(name, device)
    print(f"Re-ID: {encoder.describe()}")
    return encoder


def print_video_summary(result: VideoRunResult) -> None:
    stats, outputs = result.stats, result.outputs
    print(
        "Video processing completed!" if stats.stopped_by is None else f"Video processing stopped ({stats.stopped_by})!"
    )
    print(f"Total frames processed: {stats.frames_read}")
    print(f"Total processing time: {stats.seconds:.2f} seconds")
    print(f"Average processing FPS: {stats.fps:.2f}")
    if outputs.get("video") is not None:
        print(f"Output video saved to: {outputs['video']}")
    print(f"Frames analysed: {stats.frames_analysed}, undecodable frames skipped: {stats.frames_corrupt}")
    print(f"Unique people: {result.unique_people}")
    if outputs.get("frames_json") is not None:
        print(f"Per-frame JSON saved to: {outputs['frames_json']}")
    if outputs.get("crops_dir") is not None:
        print(f"Crops saved to: {outputs['crops_dir']}")
    print(f"Tracks (MOTChallenge) saved to: {outputs['mot']}")
    print(f"Summary saved to: {outputs['summary_json']}")


EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}


def run_image_inputs(predictor: Predictor, images: List[Path], output_dir: Path, json_path: Optional[Path], args) -> None:
    from mivolo.jobs.image_job import run_images

    summary = run_images(predictor, images, output_dir, args, json_path, progress=not args.no_progress)
    print(
        f"Processed {summary.processed}/{summary.images} images in {summary.seconds:.2f} s, "
        f"{summary.people} people found, {summary.failed} failed"
    )
    for error in summary.errors:
        print(f"  skipped {error}")
    print(f"Results saved to: {summary.outputs['images_json']}")


def run_video_inputs(
    predictor: Predictor,
    videos: List[VideoSource],
    settings: VideoJobSettings,
    json_folder: Optional[Path],
    reid_encoder: Optional[AppearanceEncoder] = None,
) -> int:
    """Each video in turn with its own summary; in a folder a video that cannot be opened is
    skipped and counted. A signal stops the whole run (after that video's outputs are written)."""
    from mivolo.jobs.video_job import run_video

    failed = 0
    for source in videos:
        if json_folder is not None:
            settings = replace(settings, json_path=json_folder / f"{source.name}_frames.json")
        try:
            result = run_video(predictor, source, settings, reid_encoder)
        except MiVOLOError as exc:
            if len(videos) == 1:
                raise
            failed += 1
            print(f"skipped {source.display_name}: {exc}", file=sys.stderr)
            continue
        print_video_summary(result)
        if result.stats.stopped_by in EXIT_BY_SIGNAL:
            return EXIT_BY_SIGNAL[result.stats.stopped_by]
    if len(videos) > 1:
        print(f"Videos: {len(videos) - failed} processed, {failed} failed")
    return 0


def run(args: argparse.Namespace) -> int:
    check_counts(args)
    inputs = resolve_inputs(args.input)
    output_dir = ensure_writable_dir(args.output)
    # --json-output-path names the JSON file when the run writes one, their folder when several
    several_jsons = len(inputs.videos) + (1 if inputs.images else 0) > 1
    json_path = Path(args.json_output_path) if args.json_output_path else None
    json_folder = json_path if several_jsons else None
    if json_path is not None:
        ensure_writable_dir(json_folder or json_path.parent)
    settings = video_settings(args, output_dir, None if several_jsons else json_path) if inputs.videos else None
    reid_model = checked_reid_model(args, settings) if settings is not None else None
    from mivolo.model.predictor import Predictor
    from mivolo.sinks.images_json import IMAGES_JSON_NAME

    predictor = Predictor(args, verbose=args.verbose)
    if inputs.images:
        images_json = json_folder / IMAGES_JSON_NAME if json_folder else json_path
        run_image_inputs(predictor, inputs.images, output_dir, images_json, args)
    if not inputs.videos:
        return 0
    from mivolo.jobs.pipeline import tune_for_speed

    pipeline = pipeline_settings(args, predictor.age_gender_model.device)
    tune_for_speed(predictor, pipeline)
    if args.scripted_detections is not None:
        from mivolo.devtools.scripted import ScriptedDetector

        predictor.detector = ScriptedDetector(predictor.detector, args.scripted_detections)
    settings = replace(settings, pipeline=pipeline)
    return run_video_inputs(predictor, inputs.videos, settings, json_folder, load_reid(reid_model, args.device))


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    return run_command("demo.py", lambda: run(args), args.verbose)
