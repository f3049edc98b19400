"""CPU benchmark: the full detect -> crop -> MiVOLO path in PyTorch, ONNX Runtime and OpenVINO.

Weights are synthetic (random, in the public formats) and exported here, so the figures are the
speed of the real network shapes, not of any accuracy. Each frame is 640x480. The detector runs
on it as in the demo; the MiVOLO stages then use a fixed scene of 2 people (face + body each),
because a random detector's boxes say nothing about a real frame's crowd.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Sequence

import cv2
import numpy as np
import torch
from tqdm import tqdm

from mivolo.core.runtime import BACKENDS, TORCH
from mivolo.model.export import export_detector, export_mivolo
from mivolo.io.safe_output import write_json_atomic
from mivolo.model.mi_volo import MiVOLO
from mivolo.model.yolo_detector import Detector
from mivolo.core.record import people_from_detections
from mivolo.devtools.synthetic import write_detector, write_mivolo_checkpoint

FRAME_SIZE = (480, 640)  # height, width
# 2 people, each a body box and the face inside it (x1, y1, x2, y2)
SCENE_BOXES = [[60, 40, 260, 470], [120, 60, 200, 160], [360, 30, 580, 475], [430, 50, 520, 160]]
SCENE_LABELS = ["person", "face", "person", "face"]
STAGES = ("detect", "crop_preprocess", "mivolo")


@dataclass(frozen=True)
class BenchmarkConfig:
    detector_scale: str  # ultralytics size letter: "n" or "x"
    mivolo_size: int  # 224 or 384
    backend: str


@dataclass
class BenchmarkResult:
    config: BenchmarkConfig
    frames: int
    stage_ms: Dict[str, float] = field(default_factory=dict)  # mean per frame
    fps: float = 0.0

    def to_dict(self) -> dict:
        return {**asdict(self.config), "frames": self.frames, "fps": round(self.fps, 3),
                "stage_ms": {k: round(v, 1) for k, v in self.stage_ms.items()}}


@dataclass(frozen=True)
class ModelFiles:
    """One network's weight file per backend."""

    by_backend: Dict[str, Path]


def pin_to_cores(cores: int) -> List[int]:
    """Run on the first `cores` CPUs, with PyTorch using that many threads (ONNX Runtime and
    OpenVINO size their pools from the process affinity)."""
    chosen = sorted(os.sched_getaffinity(0))[:cores]
    os.sched_setaffinity(0, chosen)
    torch.set_num_threads(len(chosen))
    return chosen


def prepare_models(
    work_dir: Path, detector_scales: Sequence[str], mivolo_sizes: Sequence[int], backends: Sequence[str]
) -> Dict[str, ModelFiles]:
    """Synthetic weights, exported for every backend asked for; keys 'detector_<scale>', 'mivolo_<size>'."""
    formats = [backend for backend in backends if backend != TORCH]
    models = {}
    for scale in detector_scales:
        weights = write_detector(work_dir / f"yolov8{scale}_person_face.pt", scale=scale)
        files = {TORCH: weights}
        if formats:
            files.update({item.format: item.path for item in export_detector(weights, work_dir, formats=formats)})
        models[f"detector_{scale}"] = ModelFiles(files)
    for size in mivolo_sizes:
        checkpoint = write_mivolo_checkpoint(work_dir / f"mivolo_d1_{size}.pth.tar", input_size=size)
        files = {TORCH: checkpoint}
        if formats:
            files.update({item.format: item.path for item in export_mivolo(checkpoint, work_dir, formats=formats)})
        models[f"mivolo_{size}"] = ModelFiles(files)
    return models


def synthetic_frame(seed: int = 0) -> np.ndarray:
    """A textured 640x480 BGR frame with two figures drawn where the scripted boxes are."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (*FRAME_SIZE, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in SCENE_BOXES:
        cv2.rectangle(frame, (x1, y1), (x2, y2), tuple(int(c) for c in rng.integers(0, 256, 3)), thickness=-1)
    return frame


@dataclass
class Pipeline:
    """One backend's detector and MiVOLO, with the seconds each stage has taken so far."""

    config: BenchmarkConfig
    detector: Detector
    mivolo: MiVOLO
    seconds: Dict[str, float] = field(default_factory=lambda: dict.fromkeys(STAGES, 0.0))

    def _timed(self, stage: str, call: Callable):
        start = time.perf_counter()
        result = call()
        self.seconds[stage] += time.perf_counter() - start
        return result

    def run_frame(self, frame: np.ndarray) -> None:
        self._timed("detect", lambda: self.detector.detect_people([frame]))
        scene = people_from_detections(SCENE_BOXES, SCENE_LABELS, [1.0] * len(SCENE_LABELS))
        model_input, rows = self._timed("crop_preprocess", lambda: self.mivolo.prepare(frame, scene))
        self._timed("mivolo", lambda: self.mivolo.fill(self.mivolo.inference(model_input), scene, rows))

    def result(self, frames: int) -> BenchmarkResult:
        return BenchmarkResult(
            config=self.config,
            frames=frames,
            stage_ms={stage: 1000.0 * value / frames for stage, value in self.seconds.items()},
            fps=frames / sum(self.seconds.values()),
        )


def _pipeline(models: Dict[str, ModelFiles], config: BenchmarkConfig) -> Pipeline:
    detector = Detector(models[f"detector_{config.detector_scale}"].by_backend[config.backend], device="cpu", half=False)
    checkpoint = models[f"mivolo_{config.mivolo_size}"].by_backend[config.backend]
    return Pipeline(config, detector, MiVOLO(str(checkpoint), device="cpu", half=False, use_persons=True))


def benchmark(
    models: Dict[str, ModelFiles], configs: Iterable[BenchmarkConfig], frames: int, warmup: int = 1
) -> List[BenchmarkResult]:
    """Configs that share a detector and MiVOLO size run frame by frame in turn, so that a
    machine whose load changes during the run slows every backend alike."""
    frame = synthetic_frame()
    groups: Dict[tuple, List[BenchmarkConfig]] = {}
    for config in configs:
        groups.setdefault((config.detector_scale, config.mivolo_size), []).append(config)
    results = []
    progress = tqdm(total=sum(len(group) for group in groups.values()) * (warmup + frames), desc="frames", unit="frame")
    for group in groups.values():
        pipelines = [_pipeline(models, config) for config in group]
        for index in range(warmup + frames):
            for pipeline in pipelines:
                if index == warmup:
                    pipeline.seconds = dict.fromkeys(STAGES, 0.0)
                pipeline.run_frame(frame)
                progress.update()
        results += [pipeline.result(frames) for pipeline in pipelines]
    progress.close()
    return results


def speedups(results: Sequence[BenchmarkResult]) -> List[dict]:
    """Per detector/MiVOLO pair: the fastest backend's FPS over torch's, from the same run."""
    pairs = {}
    for result in results:
        pairs.setdefault((result.config.detector_scale, result.config.mivolo_size), {})[result.config.backend] = result.fps
    rows = []
    for (scale, size), fps in pairs.items():
        if TORCH not in fps or len(fps) < 2:
            continue
        best = max((backend for backend in fps if backend != TORCH), key=fps.get)
        rows.append(
            {"detector": f"yolov8{scale}", "mivolo": size, "best_backend": best, "speedup_vs_torch": round(fps[best] / fps[TORCH], 2)}
        )
    return rows


def format_table(results: Sequence[BenchmarkResult]) -> str:
    header = "| detector | MiVOLO | backend | FPS | detect ms | crop+preprocess ms | MiVOLO ms |"
    lines = [header, "|---|---|---|---|---|---|---|"]
    for r in results:
        c = r.config
        lines.append(
            f"| yolov8{c.detector_scale} | {c.mivolo_size} | {c.backend} | {r.fps:.2f} | {r.stage_ms['detect']:.0f} "
            f"| {r.stage_ms['crop_preprocess']:.1f} | {r.stage_ms['mivolo']:.0f} |"
        )
    return "\n".join(lines)


def all_configs(detector_scales: Sequence[str], mivolo_sizes: Sequence[int], backends: Sequence[str]) -> List[BenchmarkConfig]:
    unknown = [backend for backend in backends if backend not in BACKENDS]
    if unknown:
        raise ValueError(f"unknown backends {unknown}")
    return [
        BenchmarkConfig(scale, size, backend)
        for scale in detector_scales
        for size in mivolo_sizes
        for backend in backends
    ]


def write_report(path: Path, results: Sequence[BenchmarkResult], cores: List[int], frames: int) -> Path:
    return write_json_atomic(
        path,
        {
            "setting": "cpu",
            "cores": cores,
            # other processes on the machine slow every backend; the 1-minute load says how busy it was
            "load_average_1min_at_end": os.getloadavg()[0],
            "frame": {"height": FRAME_SIZE[0], "width": FRAME_SIZE[1], "people": len(SCENE_BOXES) // 2},
            "frames_per_config": frames,
            "results": [r.to_dict() for r in results],
            "speedups": speedups(results),
        },
    )

