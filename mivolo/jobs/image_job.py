"""The image run: each image through the detector and MiVOLO, then to the image sinks (the
annotated images, crops and images.json)."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Dict, List, Optional

from tqdm import tqdm

from mivolo.core.errors import MiVOLOError
from mivolo.core.record import FrameRecord, People
from mivolo.io.images import DEFAULT_MAX_IMAGE_PIXELS, read_image
from mivolo.io.sources import image_names
from mivolo.model.predictor import Predictor
from mivolo.sinks.base import IMAGE_RUN, IMAGE_RUN_NAME, OutputPlan, RunInfo, RunResult, RunStats
from mivolo.sinks.registry import build_sinks, output_options


@dataclass
class ImageRunResult:
    images: int = 0
    processed: int = 0
    failed: int = 0
    people: int = 0
    seconds: float = 0.0
    errors: List[str] = field(default_factory=list)
    outputs: Dict[str, Optional[Path]] = field(default_factory=dict)


def run_images(
    predictor: Predictor,
    images: List[Path],
    output_dir: Path,
    options=None,
    json_path: Optional[Path] = None,
    progress: bool = True,
    max_pixels: int = DEFAULT_MAX_IMAGE_PIXELS,
) -> ImageRunResult:
    """Process every image; a bad one (unreadable, or over `max_pixels`) is reported and counted,
    the rest still run. `options` are the outputs' options (mivolo.sinks.registry.output_options);
    `json_path` overrides images.json."""
    names = image_names(images)
    plan = OutputPlan(IMAGE_RUN, Path(output_dir), IMAGE_RUN_NAME, json_path, tuple(names))
    sinks = build_sinks(options if options is not None else output_options(), plan)
    info = RunInfo(IMAGE_RUN, plan.output_dir, IMAGE_RUN_NAME, source={}, settings={})
    for sink in sinks:
        sink.open(info)
    result, stats = ImageRunResult(images=len(images)), RunStats()
    started = time.perf_counter()
    for index, path in enumerate(tqdm(images, desc="images", unit="img", disable=not progress or len(images) < 2)):
        stats.frames_read += 1
        try:
            image = read_image(path, max_pixels)
        except (ValueError, OSError) as exc:
            result.failed += 1
            result.errors.append(f"{path}: {exc}")
            frame = FrameRecord(index, 0.0, None, People.empty(), corrupt=True, source=str(path), error=str(exc))
        else:
            people = predictor.people(image)
            frame = FrameRecord(index, 0.0, image, people, source=str(path), name=names[index])
            result.processed += 1
            result.people += len(people)
        for sink in sinks:
            sink.write(frame)
    if result.processed == 0:
        raise MiVOLOError(f"no image could be read: {result.errors[0]}")
    stats.frames_analysed, stats.frames_corrupt = result.processed, result.failed
    stats.seconds = result.seconds = round(time.perf_counter() - started, 3)
    run = RunResult(info, stats)
    for sink in sinks:
        run.outputs.update(sink.close(run))
    result.outputs = run.outputs
    return result
