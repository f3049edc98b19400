"""The CPU workload side by side: the same video through demo.py under each setting.

The workload is the one the original was measured on: a 40-frame 1080p video, a YOLOv8n
person+face detector at 640, MiVOLO d1 224, 8 people with faces in every frame (scripted, see
mivolo.devtools.scripted), BoT-SORT, drawing and writing the output video. Random weights of
the real architectures are written (and exported for ONNX Runtime and OpenVINO) to a work folder.

Each setting is demo.py with a few flags (threads, backend, precision, batch, estimate policy).
The settings run in interleaved rounds, so that a change of machine load hits them all alike;
the report gives each one's median FPS with its range, per-stage ms, and how far its final
per-person answers are from the first setting's (every frame, fp32, torch): mean and max age
difference and max gender-score difference, people matched by track ID (the scripted boxes and
the tracker are deterministic, so every setting sees the same tracks).
"""

from __future__ import annotations

import os
import statistics
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from tqdm import tqdm

from mivolo.core.errors import MiVOLOError
from mivolo.core.runtime import ONNX, OPENVINO, TORCH

# the models, the pipeline and their torch are imported where used: `tools/benchmark.py --help`
# lists SETTINGS and must stay quick

ORIGINAL_FPS = 0.722  # the original on this workload, 2 cores, quiet machine (issue 15's median)


@dataclass(frozen=True)
class WorkloadSetting:
    name: str
    flags: Tuple[str, ...] = ()
    backend: str = TORCH  # which model files: the .pt/.pth.tar or their exports


INTERVAL = ("--estimate-policy", "interval", "--estimate-every", "5", "--estimate-after", "3")
ADAPTIVE = ("--estimate-policy", "adaptive", "--estimate-every", "5", "--estimate-after", "3")
SETTINGS: Tuple[WorkloadSetting, ...] = (
    WorkloadSetting("torch, every frame, fp32 (default)"),
    WorkloadSetting("torch, 1 thread", ("--threads", "1")),
    WorkloadSetting("torch, batch 4", ("--batch", "4")),
    WorkloadSetting("torch, bf16", ("--precision", "bf16")),
    WorkloadSetting("torch, interval 5 after 3", INTERVAL),
    WorkloadSetting("torch, adaptive 5 after 3", ADAPTIVE),
    WorkloadSetting("onnx", (), ONNX),
    WorkloadSetting("openvino", (), OPENVINO),
    WorkloadSetting("openvino, batch 4", ("--batch", "4"), OPENVINO),
    WorkloadSetting("openvino, bf16", ("--precision", "bf16"), OPENVINO),
    WorkloadSetting("openvino, interval 5 after 3", INTERVAL, OPENVINO),
    WorkloadSetting("openvino, adaptive 5 after 3", ADAPTIVE, OPENVINO),
    WorkloadSetting("openvino, bf16, interval 5 after 3", ("--precision", "bf16", *INTERVAL), OPENVINO),
)


@dataclass(frozen=True)
class Workload:
    frames: int = 40
    frame_size: Tuple[int, int] = (1920, 1080)
    people: int = 8
    detector_imgsz: int = 640
    mivolo_size: int = 224
    tracker: str = "botsort.yaml"


@dataclass
class SettingResult:
    setting: WorkloadSetting
    fps: List[float] = field(default_factory=list)
    stage_ms: List[Dict[str, float]] = field(default_factory=list)
    people: List[dict] = field(default_factory=list)  # the first run's summary people

    def median_fps(self) -> float:
        return statistics.median(self.fps)

    def median_stage_ms(self) -> Dict[str, float]:
        from mivolo.jobs.pipeline import STAGES

        return {stage: statistics.median(run.get(stage, 0.0) for run in self.stage_ms) for stage in STAGES}


def deviation(people: Sequence[dict], reference: Sequence[dict]) -> dict:
    """Mean and max |age difference| and max |gender-score difference| over the people both runs
    reported (matched by track ID), and how many genders or IDs differ."""
    by_id = {person["id"]: person for person in reference}
    ages, scores, genders = [], [], 0
    for person in people:
        other = by_id.get(person["id"])
        if other is None or person["age"] is None or other["age"] is None:
            continue
        ages.append(abs(person["age"] - other["age"]))
        scores.append(abs((person["gender_score"] or 0.0) - (other["gender_score"] or 0.0)))
        genders += person["gender"] != other["gender"]
    unmatched = len({p["id"] for p in people} ^ set(by_id))
    return {
        "compared": len(ages),
        "age_mean_diff": round(statistics.fmean(ages), 3) if ages else None,
        "age_max_diff": round(max(ages), 3) if ages else None,
        "gender_score_max_diff": round(max(scores), 4) if scores else None,
        "genders_differing": genders,
        "ids_unmatched": unmatched,
    }


def mean_age_spread(people: Sequence[dict]) -> Optional[float]:
    """The people's mean age spread (the std of each one's per-frame ages): the scale that a
    policy's age differences are to be read against, since it estimates a sample of those frames."""
    spreads = [person["age_spread"] for person in people if person.get("age_spread") is not None]
    return round(statistics.fmean(spreads), 3) if spreads else None


def prepare_models(work_dir: Path, workload: Workload) -> Tuple[Path, Dict[str, Tuple[Path, Path]]]:
    """The video, and (detector, MiVOLO) files per backend."""
    from mivolo.devtools.synthetic import write_detector, write_figure_video, write_mivolo_checkpoint
    from mivolo.model.export import export_detector, export_mivolo

    video = write_figure_video(work_dir / "workload.mp4", frames=workload.frames, size=workload.frame_size, fps=25.0,
                               figures=workload.people)  # fmt: skip
    detector = write_detector(work_dir / "yolov8n_person_face.pt", scale="n")
    # heads with some spread, so that ages differ by years between people and settings can drift
    checkpoint = write_mivolo_checkpoint(work_dir / f"mivolo_d1_{workload.mivolo_size}.pth.tar",
                                         input_size=workload.mivolo_size, spread=0.05)  # fmt: skip
    files = {TORCH: (detector, checkpoint)}
    exported_detector = {item.format: item.path for item in export_detector(detector, work_dir, formats=(ONNX, OPENVINO),
                                                                            imgsz=workload.detector_imgsz)}  # fmt: skip
    exported_mivolo = {item.format: item.path for item in export_mivolo(checkpoint, work_dir, formats=(ONNX, OPENVINO))}
    for backend in (ONNX, OPENVINO):
        files[backend] = (exported_detector[backend], exported_mivolo[backend])
    return video, files


def demo_command(workload: Workload, setting: WorkloadSetting, video: Path, files, out: Path) -> List[str]:
    detector, checkpoint = files[setting.backend]
    return [
        sys.executable, "-m", "mivolo.devtools.scripted", "--people", str(workload.people),
        "--input", str(video), "--output", str(out), "--draw", "--no-progress", "--device", "cpu",
        "--tracker", workload.tracker, "--detector-weights", str(detector), "--checkpoint", str(checkpoint),
        "--with-persons", "--detector-imgsz", str(workload.detector_imgsz), *setting.flags,
    ]  # fmt: skip


def benchmark_workload(
    workload: Workload, settings: Sequence[WorkloadSetting], rounds: int, work_dir: Path
) -> List[SettingResult]:
    from mivolo.devtools.benchmark_pipeline import run_one

    if not settings:
        raise MiVOLOError("no setting chosen")
    video, files = prepare_models(work_dir, workload)
    results = [SettingResult(setting) for setting in settings]
    plan = [(round_index, result) for round_index in range(rounds) for result in results]
    for round_index, result in tqdm(plan, desc="runs", unit="run"):
        out = work_dir / f"out_{results.index(result)}_{round_index}"
        summary = run_one(demo_command(workload, result.setting, video, files, out), out / f"{video.stem}_summary.json")
        run = summary["run"]
        result.fps.append(round(run["frames_read"] / run["seconds"], 4))
        result.stage_ms.append(run["stage_ms_per_frame"])
        if round_index == 0:
            result.people = summary["people"]
    return results


def format_table(results: Sequence[SettingResult]) -> str:
    reference = results[0].people
    stages = ("detect", "track", "crop_preprocess", "mivolo", "draw", "encode")
    lines = [
        "| setting | FPS (range) | vs the original | " + " | ".join(f"{s} ms" for s in stages)
        + " | age diff mean / max | gender score max diff |",
        "|---|---|---|" + "---|" * len(stages) + "---|---|",
    ]  # fmt: skip
    for result in results:
        fps = result.median_fps()
        ms = result.median_stage_ms()
        drift = deviation(result.people, reference)
        age = "-" if drift["age_mean_diff"] is None else f"{drift['age_mean_diff']:.3f} / {drift['age_max_diff']:.3f}"
        score = "-" if drift["gender_score_max_diff"] is None else f"{drift['gender_score_max_diff']:.4f}"
        spread = f"{min(result.fps):.3f}-{max(result.fps):.3f}"
        lines.append(
            f"| {result.setting.name} | {fps:.3f} ({spread}) | {fps / ORIGINAL_FPS:.2f}x | "
            + " | ".join(f"{ms[s]:.0f}" for s in stages) + f" | {age} | {score} |"
        )  # fmt: skip
    lines.append(f"\nthe reference's per-person age spread (std over its frames), mean: {mean_age_spread(reference)}")
    return "\n".join(lines)


def write_report(path: Path, workload: Workload, results: Sequence[SettingResult], rounds: int) -> Path:
    from mivolo.io.safe_output import write_json_atomic

    reference = results[0].people
    return write_json_atomic(
        path,
        {
            "setting": "cpu-workload",
            "workload": asdict(workload),
            "rounds": rounds,
            "original_fps": ORIGINAL_FPS,
            "reference_age_spread_mean": mean_age_spread(reference),
            "load_average_1min_at_end": os.getloadavg()[0],
            "results": [
                {
                    "setting": asdict(result.setting),
                    "fps": result.fps,
                    "median_fps": result.median_fps(),
                    "vs_original": round(result.median_fps() / ORIGINAL_FPS, 3),
                    "median_stage_ms": result.median_stage_ms(),
                    "deviation_from_first": deviation(result.people, reference),
                }
                for result in results
            ],
        },
    )


def choose(names: Optional[Sequence[str]]) -> List[WorkloadSetting]:
    """SETTINGS by their position (1-based) or all; the first setting is always the reference."""
    if not names:
        return list(SETTINGS)
    chosen = [SETTINGS[0]]
    for name in names:
        if not name.isdigit() or not 1 <= int(name) <= len(SETTINGS):
            raise MiVOLOError(f"--workload-settings takes numbers 1..{len(SETTINGS)}, got {name!r}")
        if SETTINGS[int(name) - 1] not in chosen:
            chosen.append(SETTINGS[int(name) - 1])
    return chosen
