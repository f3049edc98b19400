"""Command line of demo.py (`mivolo run`): images, folders, videos, streams and page URLs.

The order of work is the user's time: parse, check every argument, resolve the inputs and the
output locations, resolve the weights (the hub's defaults included), open and probe the first
video source, and only then load the models. Any mistake is one line and exit code 2 before
anything slow has happened or any file has been written.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Callable, List, Optional

from mivolo.cli.common import add_model_arguments, add_run_arguments, check_model_arguments, configure_logging, runtime_of
from mivolo.core.errors import MiVOLOError, run_command
from mivolo.io.images import DEFAULT_MAX_IMAGE_PIXELS
from mivolo.io.run_lock import RunLock
from mivolo.io.safe_output import (
    check_output_file,
    check_outputs_spare_inputs,
    check_writable_location,
    ensure_writable_dir,
)
from mivolo.io.sources import Inputs, VideoSource, VideoSourceKind, image_names, resolve_inputs
from mivolo.sinks.base import IMAGE_RUN, IMAGE_RUN_NAME, VIDEO_RUN, OutputPlan, planned_outputs
from mivolo.sinks.crops import crops_root
from mivolo.sinks.images_json import IMAGES_JSON_NAME
from mivolo.sinks.registry import add_sink_arguments, build_sinks
from mivolo.tracking.aggregation import (
    DEFAULT_MIN_TRACK_LENGTH,
    AggregationMode,
    AggregationSettings,
    GenderRule,
)
from mivolo.tracking.merge import DEFAULT_MERGE_THRESHOLD
from mivolo.tracking.tracker import DEFAULT_TRACKER, TrackerConfig, load_tracker_config, reid_model_name

if TYPE_CHECKING:  # the models' modules load torch and ultralytics: only once there is work to do
    from mivolo.core.runtime import Runtime
    from mivolo.jobs.image_job import ImageRunResult
    from mivolo.jobs.pipeline import PipelineSettings
    from mivolo.jobs.video_job import VideoJobSettings, VideoRunResult
    from mivolo.model.predictor import Predictor
    from mivolo.tracking.tracker import AppearanceEncoder

PROG = "demo.py"

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
  python demo.py --input photos/ --output out --with-persons --device cpu --save-crops
  python demo.py --input video.mp4 --output out --draw --save-json --save-crops --tracker bytetrack.yaml
  python demo.py --input videos/ --output out --with-persons --aggregation confidence --skip-frames 2
  python demo.py --input "https://www.youtube.com/watch?v=..." --output out --draw --max-height 720
  python demo.py --input rtsp://camera/stream --output out --save-json   (Ctrl-C stops and saves)
  python demo.py --input video.mp4 --output out --reid osnet_x0_25_msmt17 --reid-merge
  python demo.py --input video.mp4 --output out --draw --zones zones.yaml --report --heatmap --blur-faces
  python demo.py --input video.mp4 --output out --draw --device cuda --half --batch 16 --tracker botsort_static.yaml
  python demo.py --input /shared/videos --output /shared/out --engine ray --ray-address auto --save-json --resume

Ctrl-C or SIGTERM during a video stops after the current frame and still writes the video,
the JSON files and the summary up to that frame. With --engine ray it stops the fleet: finished
videos keep their outputs, unfinished ones leave none, and OUTPUT/fleet_summary.json says which.

exit codes: 0 done (bad files in a folder are skipped and counted), 2 bad input or weights,
130/143 stopped by SIGINT/SIGTERM (outputs written).
"""

AGGREGATIONS = {
    "default": AggregationMode.DEFAULT,
    "confidence": AggregationMode.CONFIDENCE,
    "temporal": AggregationMode.TEMPORAL,
    "global": AggregationMode.GLOBAL,
}
EXIT_BY_SIGNAL = {"SIGINT": 130, "SIGTERM": 143}
ENGINES = ("local", "ray")
DEFAULT_MAX_RETRIES = 2
# flags of --engine ray only: given with the local engine they would be silently ignored
RAY_ONLY_FLAGS = (
    ("ray_address", "--ray-address"),
    ("workers", "--workers"),
    ("gpus_per_worker", "--gpus-per-worker"),
    ("max_retries", "--max-retries"),
    ("resume", "--resume"),
)
VIDEO_ONLY_FLAGS = (
    ("reid", "--reid"),
    ("reid_merge", "--reid-merge"),
    ("skip_frames", "--skip-frames"),
    ("zones", "--zones"),
    ("zone", "--zone"),
    ("line", "--line"),
    ("heatmap", "--heatmap"),
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

    tracking = parser.add_argument_group("tracking and aggregation (videos)")
    tracking.add_argument(
        "--tracker",
        default=DEFAULT_TRACKER,
        metavar="NAME|PATH",
        help=f"botsort.yaml, botsort_static.yaml, bytetrack.yaml (shipped with the package) or the path to your own "
        f"copy (default {DEFAULT_TRACKER})",
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
        "--aggregation",
        choices=list(AGGREGATIONS),
        default=None,
        help="how a track's answer is formed: default = the original's (winsorized mean of the face and body "
        "samples from 10 on, most frequent gender); confidence = the single best prediction (0.7 * detection "
        "conf + 0.3 * gender conf) among those passing --min-detection-conf and --min-gender-conf, unknown until "
        "one passes; temporal = mean of the last --smoothing-window frames; global = one answer per track over "
        "the whole video, written to every frame of the JSON at the end",
    )
    tracking.add_argument(
        "--confidence-based", action="store_true", help="the same as --aggregation confidence (the fork's flag)"
    )
    tracking.add_argument(
        "--temporal-smoothing", action="store_true", help="the same as --aggregation temporal (the fork's flag)"
    )
    tracking.add_argument(
        "--global-smoothing",
        action="store_true",
        help="the same as --aggregation global (the fork's flag; with --temporal-smoothing it still means global)",
    )
    tracking.add_argument(
        "--min-detection-conf", type=float, default=0.5, metavar="P", help="gate for --aggregation confidence (default 0.5)"
    )
    tracking.add_argument(
        "--min-gender-conf", type=float, default=0.6, metavar="P", help="gate for --aggregation confidence (default 0.6)"
    )
    tracking.add_argument(
        "--smoothing-window", type=int, default=10, metavar="N", help="frames in the temporal mean (default 10)"
    )
    tracking.add_argument(
        "--gender-vote",
        choices=[rule.value for rule in GenderRule],
        default=GenderRule.COUNT.value,
        help="how a track's gender is voted (default, temporal and global): count = the most frequent label, as the "
        "original (ties go to the higher summed score); score = labels weighted by their scores (default count)",
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
    speed.add_argument(
        "--compile",
        action="store_true",
        help="torch.compile the MiVOLO network (GPUs only: the first frames take minutes to compile)",
    )
    # the names and defaults of mivolo.jobs.pipeline.EstimatePolicy (not imported here: it loads torch)
    speed.add_argument(
        "--estimate-policy",
        choices=("every-frame", "interval", "adaptive"),
        default="every-frame",
        help="which tracked people MiVOLO estimates in a frame: every-frame = everyone, every frame (the original); "
        "interval = a track's first --estimate-after frames, then every --estimate-every frames it is seen; "
        "adaptive = interval, and also when the face is over 1.5x the area, or 1.5x as sharp, as any used before "
        "(default every-frame)",
    )
    speed.add_argument(
        "--estimate-every", type=int, default=5, metavar="N", help="interval/adaptive: frames between estimates (default 5)"
    )
    speed.add_argument(
        "--estimate-after",
        type=int,
        default=3,
        metavar="K",
        help="interval/adaptive: estimates a track gets frame after frame before the interval starts (default 3)",
    )


def add_engine_arguments(parser: argparse.ArgumentParser) -> None:
    fleet = parser.add_argument_group("engine (many videos on a Ray cluster, see docs/ray.md)")
    fleet.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="local = this process (default); ray = a pool of Ray workers, each loading the models once, videos "
        "handed to free workers, images through Ray Data; --output must be on storage every node sees",
    )
    fleet.add_argument(
        "--ray-address", metavar="ADDR", help="join this Ray cluster (e.g. auto or HOST:6379; default: start a local Ray)"
    )
    fleet.add_argument(
        "--workers", type=int, metavar="N", help="Ray workers (default: one per GPU, else one per 4 CPUs)"
    )
    fleet.add_argument(
        "--gpus-per-worker",
        type=float,
        metavar="G",
        help="GPUs each Ray worker reserves; 0.5 puts two on a GPU (default 1 on a cluster with GPUs, else 0)",
    )
    fleet.add_argument(
        "--max-retries",
        type=int,
        metavar="N",
        help=f"times a video is started afresh on another worker when its worker dies (default {DEFAULT_MAX_RETRIES})",
    )
    fleet.add_argument(
        "--resume", action="store_true", help="skip the videos whose outputs in --output are complete (--engine ray)"
    )


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--input", required=True, metavar="PATH|URL", help="image, video, folder, stream URL, webcam index or page URL"
    )
    parser.add_argument(
        "--max-image-pixels",
        type=int,
        default=DEFAULT_MAX_IMAGE_PIXELS,
        metavar="N",
        help="images with more pixels (read from the file's header, before decoding) are refused; in a folder "
        f"they are skipped and listed in images.json (default {DEFAULT_MAX_IMAGE_PIXELS}, 100 megapixels)",
    )
    parser.add_argument(
        "--output",
        default="output",
        metavar="DIR",
        help="output folder (default: output); in a folder --input it is not searched for inputs",
    )
    add_model_arguments(parser)
    add_video_arguments(parser)
    outputs = parser.add_argument_group("outputs")
    add_sink_arguments(outputs)
    outputs.add_argument(
        "--json-output-path",
        metavar="PATH",
        help="where the JSON goes (default OUTPUT/images.json, OUTPUT/<name>_frames.json, which it implies); "
        "a folder when the input gives several",
    )
    add_engine_arguments(parser)
    add_run_arguments(parser)
    return parser


# ---- checks that need nothing loaded -------------------------------------------------------------


def aggregation_settings(args: argparse.Namespace) -> AggregationSettings:
    """--aggregation, or the fork's flags for it (--temporal-smoothing with --global-smoothing,
    the fork's spelling of global smoothing, means global)."""
    aliases = [
        name for name, flag in (("confidence", "confidence_based"), ("temporal", "temporal_smoothing"), ("global", "global_smoothing"))
        if getattr(args, flag)
    ]
    if "global" in aliases and "temporal" in aliases:
        aliases.remove("temporal")
    if len(aliases) > 1:
        raise MiVOLOError("--confidence-based cannot be combined with --temporal-smoothing or --global-smoothing")
    if aliases and args.aggregation is not None and args.aggregation != aliases[0]:
        raise MiVOLOError(f"--aggregation {args.aggregation} contradicts --{aliases[0]}-smoothing/--confidence-based")
    name = args.aggregation or (aliases[0] if aliases else "default")
    for flag in ("min_detection_conf", "min_gender_conf"):
        if not 0.0 <= getattr(args, flag) <= 1.0:
            raise MiVOLOError(f"--{flag.replace('_', '-')} must be between 0 and 1")
    if args.smoothing_window < 1:
        raise MiVOLOError("--smoothing-window must be at least 1")
    return AggregationSettings(
        AGGREGATIONS[name], args.min_detection_conf, args.min_gender_conf, args.smoothing_window, GenderRule(args.gender_vote)
    )


def check_counts(args: argparse.Namespace) -> None:
    for flag, value, minimum in (
        ("--skip-frames", args.skip_frames, 0),
        ("--min-track-length", args.min_track_length, 1),
        ("--crop-every", args.crop_every, 0),
        ("--max-height", args.max_height, 1),
        ("--batch", 1 if args.batch is None else args.batch, 1),
        ("--max-image-pixels", args.max_image_pixels, 1),
    ):
        if value < minimum:
            raise MiVOLOError(f"{flag} must be at least {minimum}, got {value}")


def warn_ignored_for_images(args: argparse.Namespace, inputs: Inputs) -> None:
    """Video-only flags on an input of images only: said once, instead of silently ignored."""
    if inputs.videos:
        return
    given = [flag for attribute, flag in VIDEO_ONLY_FLAGS if getattr(args, attribute) not in (None, 0, [], False)]
    if given:
        print(f"{PROG}: note: {', '.join(given)} apply to videos; the input has only images", file=sys.stderr)


def check_engine(args: argparse.Namespace, inputs: Inputs) -> None:
    """--engine ray's flags and what it cannot do, before anything is started."""
    if args.engine != "ray":
        given = [flag for attribute, flag in RAY_ONLY_FLAGS if getattr(args, attribute) not in (None, False)]
        if given:
            raise MiVOLOError(f"{', '.join(given)} {'needs' if len(given) == 1 else 'need'} --engine ray")
        return
    for flag, value, minimum in (("--workers", args.workers, 1), ("--gpus-per-worker", args.gpus_per_worker, 0),
                                 ("--max-retries", args.max_retries, 0)):  # fmt: skip
        if value is not None and value < minimum:
            raise MiVOLOError(f"{flag} must be at least {minimum}, got {value:g}")
    webcams = [source.display_name for source in inputs.videos if source.kind is VideoSourceKind.WEBCAM]
    if webcams:
        raise MiVOLOError(f"--engine ray cannot read {webcams[0]}: a Ray worker may run on another machine; use --engine local")
    for attribute, flag in (("json_output_path", "--json-output-path"), ("crops_dir", "--crops-dir")):
        if getattr(args, attribute):
            raise MiVOLOError(f"--engine ray writes every output under --output (staged there, then moved into place): drop {flag}")
    if args.device is not None and ":" in args.device:
        raise MiVOLOError(f"Ray gives each worker its GPU: use --device cuda (or cpu) with --engine ray, not {args.device}")
    if args.device == "cpu" and args.gpus_per_worker:
        raise MiVOLOError("--gpus-per-worker with --device cpu: the workers would hold GPUs they do not use")


@dataclass
class DemoPlan:
    """Everything the run will do, decided before anything is loaded."""

    inputs: Inputs
    output_dir: Path
    json_path: Optional[Path]  # --json-output-path for a run with one JSON
    json_folder: Optional[Path]  # --json-output-path for a run with several
    tracker: Optional[TrackerConfig] = None
    aggregation: AggregationSettings = field(default_factory=AggregationSettings)
    reid_model: Optional[str] = None

    def image_json_path(self) -> Optional[Path]:
        return self.json_folder / IMAGES_JSON_NAME if self.json_folder else self.json_path

    def video_json_path(self, source: VideoSource) -> Optional[Path]:
        return self.json_folder / f"{source.name}_frames.json" if self.json_folder else self.json_path

    def output_plans(self) -> List[OutputPlan]:
        """Where each of the run's runs (the images, then each video) writes."""
        plans = []
        if self.inputs.images:
            names = tuple(image_names(self.inputs.images))
            plans.append(OutputPlan(IMAGE_RUN, self.output_dir, IMAGE_RUN_NAME, self.image_json_path(), names))
        for source in self.inputs.videos:
            plans.append(OutputPlan(VIDEO_RUN, self.output_dir, source.name, self.video_json_path(source)))
        return plans


def own_folders(args: argparse.Namespace) -> List[Path]:
    """The folders the run writes into, never searched for inputs: its outputs are not read back."""
    folders = [Path(args.output), crops_root(args, Path(args.output))]
    if args.json_output_path:
        folders.append(Path(args.json_output_path))
    return [folder for folder in folders if folder is not None]


def check_outputs(args: argparse.Namespace, plan: DemoPlan) -> None:
    """Every output the sinks plan, before anything is loaded: none overwrites an input or
    another output (links followed), and each can be written where it goes."""
    files: List[Path] = []
    folders: List[Path] = []
    for output_plan in plan.output_plans():
        planned_files, planned_folders = planned_outputs(build_sinks(args, output_plan))
        files += planned_files
        folders += planned_folders
    video_files = [Path(source.location) for source in plan.inputs.videos if source.kind is VideoSourceKind.FILE]
    check_outputs_spare_inputs(files, folders, plan.inputs.images + video_files)
    check_writable_location(plan.output_dir)
    for path in files:
        check_output_file(path)
    for folder in folders:
        check_writable_location(folder)


def plan_run(args: argparse.Namespace) -> DemoPlan:
    check_counts(args)
    check_model_arguments(args)
    aggregation = aggregation_settings(args)
    inputs = resolve_inputs(args.input, exclude=own_folders(args))
    check_engine(args, inputs)
    warn_ignored_for_images(args, inputs)
    tracker = reid_model = None
    if inputs.videos:
        tracker = load_tracker_config(args.tracker)
        reid_model = reid_model_name(tracker, args.reid)
        if args.reid_merge is not None and reid_model is None:
            raise MiVOLOError("--reid-merge needs a Re-ID model: pass --reid NAME|PATH or set model in the tracker YAML")
    # --json-output-path names the JSON file when the run writes one, their folder when several
    several_jsons = len(inputs.videos) + (1 if inputs.images else 0) > 1
    json_path = Path(args.json_output_path) if args.json_output_path else None
    plan = DemoPlan(
        inputs=inputs,
        output_dir=Path(args.output),
        json_path=None if several_jsons else json_path,
        json_folder=json_path if several_jsons else None,
        tracker=tracker,
        aggregation=aggregation,
        reid_model=reid_model,
    )
    check_outputs(args, plan)
    return plan


# ---- the run ----------------------------------------------------------------------------------------


def pipeline_settings(args: argparse.Namespace, runtime: "Runtime") -> "PipelineSettings":
    from mivolo.jobs.pipeline import EstimatePolicy, PipelineSettings

    if args.compile and runtime.device.type != "cuda":
        raise MiVOLOError("--compile needs a GPU: on a CPU torch.compile spends many minutes on the first frame")
    for flag, value in (("--estimate-every", args.estimate_every), ("--estimate-after", args.estimate_after)):
        if value < 1:
            raise MiVOLOError(f"{flag} must be at least 1, got {value}")
    policy = EstimatePolicy(args.estimate_policy, every=args.estimate_every, after=args.estimate_after)
    if args.sequential:
        return PipelineSettings(estimate=policy)
    batch = args.batch if args.batch is not None else (8 if runtime.device.type == "cuda" else 1)
    settings = PipelineSettings.optimised(runtime.device, batch, True if args.exact_preprocessing else None, args.compile)
    return replace(settings, estimate=policy)


def video_settings(args: argparse.Namespace, plan: DemoPlan, pipeline: "PipelineSettings") -> "VideoJobSettings":
    from mivolo.jobs.video_job import VideoJobSettings

    return VideoJobSettings(
        output_dir=plan.output_dir,
        tracker=plan.tracker,
        aggregation=plan.aggregation,
        outputs=args,
        json_path=plan.json_path,
        skip_frames=args.skip_frames,
        min_track_length=args.min_track_length,
        max_height=args.max_height,
        progress=not args.no_progress,
        pipeline=pipeline,
        reid_merge_threshold=args.reid_merge,
    )


def load_reid(name: Optional[str], runtime: "Runtime") -> Optional["AppearanceEncoder"]:
    """The Re-ID encoder, announced with its embedding size; None without a model."""
    if name is None:
        return None
    from mivolo.reid import load_reid_encoder

    encoder = load_reid_encoder(name, runtime=runtime)
    print(f"Re-ID: {encoder.describe()}")
    return encoder


def print_video_summary(result: "VideoRunResult") -> None:
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
    for name, label in (
        ("frames_json", "Per-frame JSON"),
        ("crops_dir", "Crops"),
        ("events_csv", "Zone and line events"),
        ("heatmap", "Heatmap"),
        ("report_html", "Report"),
    ):
        if outputs.get(name) is not None:
            print(f"{label} saved to: {outputs[name]}")
    print(f"Tracks (MOTChallenge) saved to: {outputs['mot']}")
    print(f"Summary saved to: {outputs['summary_json']}")


def run_image_inputs(predictor: "Predictor", args: argparse.Namespace, plan: DemoPlan) -> "ImageRunResult":
    from mivolo.jobs.image_job import run_images

    return run_images(
        predictor,
        plan.inputs.images,
        plan.output_dir,
        args,
        plan.image_json_path(),
        progress=not args.no_progress,
        max_pixels=args.max_image_pixels,
    )


def print_image_summary(summary: "ImageRunResult") -> None:
    print(
        f"Processed {summary.processed}/{summary.images} images in {summary.seconds:.2f} s, "
        f"{summary.people} people found, {summary.failed} failed"
    )
    for error in summary.errors:
        print(f"  skipped {error}")
    print(f"Results saved to: {summary.outputs['images_json']}")


def open_first_video(plan: DemoPlan, max_height: int):
    """Open the first video source before any model is loaded: a missing webcam, a dead stream
    or a bad page URL ends here, at once. A folder's other videos are opened in turn."""
    from mivolo.io.video import VideoReader

    if not plan.inputs.videos:
        return None
    try:
        return VideoReader(plan.inputs.videos[0], max_height)
    except MiVOLOError:
        if len(plan.inputs.videos) == 1:
            raise
        return None  # a folder's broken file is skipped and counted when its turn comes


def run_video_inputs(
    predictor: "Predictor",
    plan: DemoPlan,
    settings: "VideoJobSettings",
    first_reader,
    reid_encoder: Optional["AppearanceEncoder"] = None,
) -> int:
    """Each video in turn with its own summary; in a folder a video that cannot be opened is
    skipped and counted. A signal stops the whole run (after that video's outputs are written)."""
    from mivolo.jobs.video_job import run_video

    videos: List[VideoSource] = plan.inputs.videos
    failed = 0
    for index, source in enumerate(videos):
        settings = replace(settings, json_path=plan.video_json_path(source))
        try:
            result = run_video(predictor, source, settings, reid_encoder, reader=first_reader if index == 0 else None)
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


@dataclass(frozen=True)
class ModelLoader:
    """The run's models, loaded where the work runs: in this process, or once in each Ray worker.
    It is sent to the workers, so it holds the arguments, never the models."""

    args: argparse.Namespace
    reid_model: Optional[str] = None
    wrap_detector: Optional[Callable] = None  # replaces the detector in video runs (benchmarks' scripted people)

    def runtime(self, threads: Optional[int] = None) -> "Runtime":
        """`threads`: a Ray worker's share of the CPUs, unless --threads says otherwise."""
        args = self.args
        if threads is not None and args.threads is None:
            args = argparse.Namespace(**{**vars(args), "threads": threads})
        return runtime_of(args)

    def predictor(self, runtime: "Runtime") -> "Predictor":
        from mivolo.model.predictor import Predictor
        from mivolo.model.weights import resolve_weights

        # resolved where the models load: a worker on another node has its own hub cache
        detector_weights, checkpoint = resolve_weights(self.args.detector_weights, self.args.checkpoint)
        return Predictor(
            detector_weights=detector_weights,
            checkpoint=checkpoint,
            runtime=runtime,
            with_persons=self.args.with_persons,
            disable_faces=self.args.disable_faces,
            detector_imgsz=self.args.detector_imgsz,
            verbose=self.args.verbose,
        )

    def prepare_for_videos(self, predictor: "Predictor", pipeline: "PipelineSettings", runtime: "Runtime"):
        """Tune the predictor for video batches; the Re-ID encoder (None without a model)."""
        from mivolo.jobs.pipeline import tune_for_speed

        tune_for_speed(predictor, pipeline)
        if self.wrap_detector is not None:
            predictor.detector = self.wrap_detector(predictor.detector)
        return load_reid(self.reid_model, runtime)

    def __call__(self, threads: int):
        """A Ray video worker's models: (predictor, pipeline settings, Re-ID encoder)."""
        runtime = self.runtime(threads)
        pipeline = pipeline_settings(self.args, runtime)
        predictor = self.predictor(runtime)
        return predictor, pipeline, self.prepare_for_videos(predictor, pipeline, runtime)

    def image_predictor(self, threads: int) -> "Predictor":
        """A Ray Data image worker's predictor."""
        return self.predictor(self.runtime(threads))


def run(args: argparse.Namespace, wrap_detector: Optional[Callable] = None) -> int:
    """The whole demo run; `wrap_detector` replaces the detector (benchmarks' scripted people)."""
    plan = plan_run(args)
    loader = ModelLoader(args, plan.reid_model, wrap_detector)
    # held until the run ends, however it ends; it creates the output folder (removed again if
    # the run fails before writing anything there)
    with RunLock(plan.output_dir, [output_plan.name for output_plan in plan.output_plans()]):
        from mivolo.model.weights import resolve_weights

        resolve_weights(args.detector_weights, args.checkpoint)  # a missing file or download fails here, first
        if args.engine == "ray":
            return run_on_ray(args, plan, loader)
        runtime = runtime_of(args)
        pipeline = pipeline_settings(args, runtime) if plan.inputs.videos else None
        first_reader = open_first_video(plan, args.max_height)
        try:
            predictor = loader.predictor(runtime)
            if plan.json_path is not None or plan.json_folder is not None:
                ensure_writable_dir(plan.json_folder or plan.json_path.parent)
            if plan.inputs.images:
                print_image_summary(run_image_inputs(predictor, args, plan))
            if not plan.inputs.videos:
                return 0
            encoder = loader.prepare_for_videos(predictor, pipeline, runtime)
            return run_video_inputs(predictor, plan, video_settings(args, plan, pipeline), first_reader, encoder)
        finally:
            if first_reader is not None:
                first_reader.close()


def run_on_ray(args: argparse.Namespace, plan: DemoPlan, loader: ModelLoader) -> int:
    """--engine ray: the images through Ray Data, then the videos on a pool of workers."""
    from mivolo.jobs.fleet import FleetSettings, FleetStopped, run_fleet

    fleet = FleetSettings(
        address=args.ray_address,
        workers=args.workers,
        gpus_per_worker=0.0 if args.device == "cpu" else args.gpus_per_worker,  # CPU workers hold no GPU
        max_retries=DEFAULT_MAX_RETRIES if args.max_retries is None else args.max_retries,
        resume=args.resume,
        progress=not args.no_progress,
        report=args.report,
    )
    if plan.inputs.images:
        from mivolo.jobs.fleet_images import run_images_on_ray

        if args.report:  # its gallery holds every person of every image: not for a Ray Data run's scale
            print("note: --report with --engine ray reports the videos and the fleet; an image run's report needs --engine local")

        names = tuple(image_names(plan.inputs.images))
        output_plan = OutputPlan(IMAGE_RUN, plan.output_dir, IMAGE_RUN_NAME, plan.image_json_path(), names)
        print_image_summary(run_images_on_ray(loader.image_predictor, plan.inputs.images, output_plan, args, fleet, args.max_image_pixels))
    if not plan.inputs.videos:
        return 0
    from mivolo.jobs.pipeline import PipelineSettings

    try:
        report = run_fleet(loader, plan.inputs.videos, video_settings(args, plan, PipelineSettings()), fleet)
    except KeyboardInterrupt:
        print(f"Fleet stopped (SIGINT); see {plan.output_dir / 'fleet_summary.json'}")
        return EXIT_BY_SIGNAL["SIGINT"]
    except FleetStopped as stop:
        print(f"Fleet stopped ({stop.signal_name}); see {plan.output_dir / 'fleet_summary.json'}")
        return EXIT_BY_SIGNAL[stop.signal_name]
    counts = ", ".join(f"{report.count(status)} {status}" for status in ("done", "skipped", "failed"))
    print(f"Videos: {counts}; {report.frames_this_run} frames at {report.fleet_fps():.2f} FPS across {report.workers} workers")
    print(f"Fleet summary saved to: {report.path}")
    failed = [entry for entry in report.entries.values() if entry.status == "failed"]
    if failed and len(report.entries) == 1:
        raise MiVOLOError(f"{failed[0].input}: {failed[0].error}")  # one video: its failure is the run's, as locally
    return 0


def main(argv: Optional[List[str]] = None, wrap_detector: Optional[Callable] = None, prog: str = PROG) -> int:
    args = build_parser(prog).parse_args(argv)
    configure_logging(args.verbose)
    return run_command(prog, lambda: run(args, wrap_detector), args.verbose)
