"""Benchmark of the whole video pipeline: the optimised path against the sequential one.

Random-weight models of the real architectures (a YOLOv8 person/face detector, MiVOLO d1 at
each input size) and a generated video are written to a work folder. demo.py then runs on the
video once per (MiVOLO size, K people, path) as a child process, through `mivolo.devtools.scripted --people K`
(the detector's forward pass runs, its boxes are replaced by K walking people with faces), BoT-SORT,
drawing and the output video. Each run's summary JSON gives its FPS, per-stage ms, peak CPU RSS
and peak GPU memory. The sequential and optimised runs of one configuration follow each other,
so their ratio is measured under the same conditions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from tqdm import tqdm

from mivolo.core.errors import MiVOLOError
from mivolo.io.safe_output import write_json_atomic
from mivolo.jobs.pipeline import STAGES
from mivolo.devtools.synthetic import write_detector, write_figure_video, write_mivolo_checkpoint

PATHS = ("sequential", "optimised")


@dataclass(frozen=True)
class PipelineBenchmarkSettings:
    device: str  # cpu, cuda, cuda:N
    frame_size: Tuple[int, int]  # width, height
    frames: int
    people: Tuple[int, ...]  # K values
    mivolo_sizes: Tuple[int, ...]
    detector_scale: str
    detector_imgsz: int
    batch: int
    half: bool
    compile: bool
    tracker: str = "botsort.yaml"

    @classmethod
    def for_device(cls, device: str, **overrides) -> "PipelineBenchmarkSettings":
        """The issue's GPU setting (1080p, YOLOv8x, K = 0/8/32, fp16), or a small CPU one that
        runs in a few minutes on 2 cores; any field can be overridden (None keeps the default)."""
        if device.startswith("cuda"):
            defaults = dict(frame_size=(1920, 1080), frames=300, people=(0, 8, 32), mivolo_sizes=(224, 384),
                            detector_scale="x", detector_imgsz=640, batch=16, half=True, compile=False)  # fmt: skip
        else:
            defaults = dict(frame_size=(640, 360), frames=8, people=(0, 2, 4), mivolo_sizes=(224, 384),
                            detector_scale="n", detector_imgsz=320, batch=4, half=False, compile=False)  # fmt: skip
        defaults.update({key: value for key, value in overrides.items() if value is not None})
        return cls(device=device, **defaults)


@dataclass
class PipelineRun:
    mivolo_size: int
    people: int
    path: str  # sequential | optimised
    fps: float
    stage_ms: Dict[str, float]
    peak_rss_mib: Optional[float]
    peak_gpu_mib: Optional[float]
    frames: int


@dataclass
class PipelineBenchmarkReport:
    settings: PipelineBenchmarkSettings
    runs: List[PipelineRun] = field(default_factory=list)

    def speedups(self) -> List[dict]:
        by_key = {(r.mivolo_size, r.people, r.path): r for r in self.runs}
        rows = []
        for size in self.settings.mivolo_sizes:
            for people in self.settings.people:
                slow, fast = by_key.get((size, people, "sequential")), by_key.get((size, people, "optimised"))
                if slow and fast and slow.fps > 0:
                    rows.append({"mivolo": size, "people": people, "sequential_fps": slow.fps,
                                 "optimised_fps": fast.fps, "speedup": round(fast.fps / slow.fps, 2)})  # fmt: skip
        return rows

    def to_dict(self) -> dict:
        return {
            "setting": "pipeline",
            "settings": asdict(self.settings),
            "load_average_1min_at_end": os.getloadavg()[0],
            "runs": [asdict(run) for run in self.runs],
            "speedups": self.speedups(),
        }


def prepare_inputs(work_dir: Path, settings: PipelineBenchmarkSettings) -> Tuple[Path, Path, Dict[int, Path]]:
    """The video, the detector and one MiVOLO checkpoint per size, all generated."""
    video = write_figure_video(work_dir / "benchmark.mp4", frames=settings.frames, size=settings.frame_size,
                               fps=25.0, figures=4)  # fmt: skip
    detector = write_detector(work_dir / f"yolov8{settings.detector_scale}_person_face.pt", scale=settings.detector_scale)
    checkpoints = {
        size: write_mivolo_checkpoint(work_dir / f"mivolo_d1_{size}.pth.tar", input_size=size)
        for size in settings.mivolo_sizes
    }
    return video, detector, checkpoints


def demo_command(settings, video: Path, detector: Path, checkpoint: Path, people: int, path: str, out: Path) -> List[str]:
    command = [
        sys.executable, "-m", "mivolo.devtools.scripted", "--people", str(people),
        "--input", str(video), "--output", str(out), "--draw",
        "--no-progress", "--tracker", settings.tracker, "--detector-weights", str(detector),
        "--checkpoint", str(checkpoint), "--device", settings.device, "--with-persons",
        "--detector-imgsz", str(settings.detector_imgsz),
    ]  # fmt: skip
    if settings.half:
        command.append("--half")
    if path == "sequential":
        command.append("--sequential")
    else:
        command += ["--batch", str(settings.batch)] + (["--compile"] if settings.compile else [])
    return command


def run_one(command: List[str], summary_path: Path) -> dict:
    finished = subprocess.run(command, capture_output=True, text=True)
    if finished.returncode != 0:
        detail = (finished.stderr.strip().splitlines() or ["no output"])[-1]
        raise MiVOLOError(f"demo.py failed ({finished.returncode}): {detail}")
    return json.loads(summary_path.read_text())


def benchmark_pipeline(settings: PipelineBenchmarkSettings, work_dir: Path) -> PipelineBenchmarkReport:
    video, detector, checkpoints = prepare_inputs(work_dir, settings)
    report = PipelineBenchmarkReport(settings)
    plan = [(size, people, path) for size in settings.mivolo_sizes for people in settings.people for path in PATHS]
    for size, people, path in tqdm(plan, desc="runs", unit="run"):
        out = work_dir / f"out_{size}_{people}_{path}"
        command = demo_command(settings, video, detector, checkpoints[size], people, path, out)
        summary = run_one(command, out / f"{video.stem}_summary.json")["run"]
        report.runs.append(
            # the summary's fps is rounded to 2 decimals, too coarse for the CPU's fractions of a frame
            PipelineRun(size, people, path, round(summary["frames_read"] / summary["seconds"], 4), summary["stage_ms_per_frame"],
                        summary["peak_rss_mib"], summary["peak_gpu_mib"], summary["frames_read"])  # fmt: skip
        )
    return report


def format_table(report: PipelineBenchmarkReport) -> str:
    stages = " | ".join(f"{stage} ms" for stage in STAGES)
    lines = [f"| MiVOLO | K | path | FPS | x | {stages} | RSS MiB | GPU MiB |",
             "|---|---|---|---|---|" + "---|" * len(STAGES) + "---|---|"]  # fmt: skip
    sequential = {(r.mivolo_size, r.people): r.fps for r in report.runs if r.path == "sequential"}
    for run in report.runs:
        base = sequential.get((run.mivolo_size, run.people))
        ratio = f"{run.fps / base:.2f}" if base else "-"
        ms = " | ".join(f"{run.stage_ms.get(stage, 0.0):.1f}" for stage in STAGES)
        gpu = "-" if run.peak_gpu_mib is None else f"{run.peak_gpu_mib:.0f}"
        lines.append(f"| {run.mivolo_size} | {run.people} | {run.path} | {run.fps:.3g} | {ratio} | {ms} | {run.peak_rss_mib:.0f} | {gpu} |")
    return "\n".join(lines)


def write_report(path: Path, report: PipelineBenchmarkReport) -> Path:
    return write_json_atomic(path, report.to_dict())


def describe(settings: PipelineBenchmarkSettings) -> str:
    width, height = settings.frame_size
    return (
        f"Video pipeline on {settings.device}: {width}x{height}, {settings.frames} frames, YOLOv8{settings.detector_scale} "
        f"at {settings.detector_imgsz}, MiVOLO d1 {'/'.join(map(str, settings.mivolo_sizes))}, "
        f"K = {'/'.join(map(str, settings.people))} people, optimised batch {settings.batch}"
        + (", fp16" if settings.half else "") + (", compiled" if settings.compile else "")
    )


def parse_size(text: str) -> Tuple[int, int]:
    try:
        width, height = (int(v) for v in text.lower().split("x"))
    except ValueError:
        raise MiVOLOError(f"--frame-size must be WIDTHxHEIGHT, got {text!r}") from None
    return width, height


def check(settings: PipelineBenchmarkSettings) -> None:
    if settings.frames < 1 or settings.batch < 1 or min(settings.people) < 0:
        raise MiVOLOError("--frames and --batch must be at least 1, --people at least 0")

