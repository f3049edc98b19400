"""Images at scale (`demo.py --engine ray` on images): Ray Data streams the image paths through a
pool of actors (map_batches with a class), each loading the predictor once and answering every
image of its batches with its images.json record; the annotated images and crops are written by
the actors into --output (a shared filesystem, as for videos: mivolo.jobs.fleet).

The driver takes the records as they stream back, in input order, and writes them as JSON Lines
shards of SHARD_RECORDS records (`<json stem>.part-00000.jsonl`, ...), then `images.json` (the
local run's document, the records streamed from the shards). Neither side ever holds more than
a shard of records, so memory stays bounded however many images there are.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable, Dict, Iterator, List

import numpy as np
import ray

from mivolo.core.errors import MiVOLOError
from mivolo.core.record import FrameRecord
from mivolo.io.images import read_image
from mivolo.io.safe_output import atomic_path
from mivolo.jobs.fleet import FleetSettings, check_probe, connect, pool_shape, reason, worker_runtime_env, write_probe
from mivolo.jobs.image_job import ImageRunResult
from mivolo.sinks.base import IMAGE_RUN, OutputPlan, RunInfo, RunResult, RunStats
from mivolo.sinks.images_json import IMAGES_JSON_NAME, ImageRunSummary, ImagesJson, write_images_json
from mivolo.sinks.registry import build_sinks
from mivolo.sinks.report import Report

IMAGE_BATCH = 16  # images per map_batches call: enough to amortise a call, few enough to balance actors
SHARD_RECORDS = 1000


def image_sinks(options, plan: OutputPlan):
    """The image run's sinks: (the images.json sink, the others: annotated images, crops). Not the
    report: its gallery of every person would grow with the images (demo.py says so)."""
    sinks = [sink for sink in build_sinks(options, plan) if not isinstance(sink, Report)]
    json_sink = next(sink for sink in sinks if isinstance(sink, ImagesJson))
    return json_sink, [sink for sink in sinks if sink is not json_sink]


class ImageWorker:
    """A Ray Data actor: the predictor, then batches of {index, path, name} -> {index, record, people, error}."""

    def __init__(self, load_predictor: Callable[[int], object], threads: int, plan: OutputPlan, options, max_pixels: int,
                 probe: str, token: str):  # fmt: skip
        check_probe(probe, token)
        self.predictor = load_predictor(threads)
        self.json, self.sinks = image_sinks(options, plan)
        info = RunInfo(IMAGE_RUN, plan.output_dir, plan.name, source={}, settings={})
        for sink in self.sinks:
            sink.open(info)
        self.max_pixels = max_pixels

    def __call__(self, batch: Dict[str, np.ndarray]) -> Dict[str, np.ndarray]:
        records, people, errors = [], [], []
        for index, path, name in zip(batch["index"], batch["path"], batch["name"]):
            try:
                image = read_image(Path(path), self.max_pixels)
            except (ValueError, OSError) as exc:  # as run_images: reported and counted
                records.append("")
                people.append(0)
                errors.append(f"{path}: {exc}")
                continue
            frame = FrameRecord(int(index), 0.0, image, self.predictor.people(image), source=str(path), name=str(name))
            for sink in self.sinks:
                sink.write(frame)
            records.append(json.dumps(self.json.record(frame), allow_nan=False))
            people.append(len(frame.people))
            errors.append("")
        return {
            "index": np.asarray(batch["index"]),
            "record": np.array(records, dtype=object),
            "people": np.array(people, dtype=np.int64),
            "error": np.array(errors, dtype=object),
        }


class ShardWriter:
    """JSON Lines shards of at most SHARD_RECORDS records, each written whole (atomically)."""

    def __init__(self, target: Path):
        self.folder, self.stem = target.parent, target.stem
        self.pending: List[str] = []
        self.shards: List[Path] = []

    def add(self, line: str) -> None:
        self.pending.append(line)
        if len(self.pending) >= SHARD_RECORDS:
            self.flush()

    def flush(self) -> None:
        if not self.pending:
            return
        path = self.folder / f"{self.stem}.part-{len(self.shards):05d}.jsonl"
        with atomic_path(path) as tmp:
            tmp.write_text("\n".join(self.pending) + "\n")
        self.shards.append(path)
        self.pending = []

    def close(self) -> List[Path]:
        self.flush()
        for stale in self.folder.glob(f"{self.stem}.part-*.jsonl"):  # an earlier, longer run's
            if stale not in self.shards:
                stale.unlink(missing_ok=True)
        return self.shards

    def records(self) -> Iterator[dict]:
        for shard in self.shards:
            with shard.open() as lines:
                for line in lines:
                    yield json.loads(line)


def run_images_on_ray(
    load_predictor: Callable[[int], object],
    images: List[Path],
    plan: OutputPlan,
    options,
    fleet: FleetSettings,
    max_pixels: int,
) -> ImageRunResult:
    """The image run of mivolo.jobs.image_job.run_images on Ray Data: the same images.json (and
    annotated images and crops), plus its records as JSON Lines shards."""
    target = plan.json_path or plan.path(IMAGES_JSON_NAME)
    connect(fleet.address)
    shape = pool_shape(fleet.workers, fleet.gpus_per_worker, -(-len(images) // IMAGE_BATCH))
    context = ray.data.DataContext.get_current()
    context.execution_options.preserve_order = True  # records come back in input order, as in images.json
    context.enable_progress_bars = fleet.progress
    probe, token = write_probe(plan.output_dir)
    rows = [{"index": index, "path": str(path), "name": name} for index, (path, name) in enumerate(zip(images, plan.image_names))]
    dataset = ray.data.from_items(rows, override_num_blocks=max(1, -(-len(rows) // IMAGE_BATCH))).map_batches(
        ImageWorker,
        fn_constructor_args=(load_predictor, max(1, int(shape.cpus)), plan, options, max_pixels, str(probe), token),
        batch_size=IMAGE_BATCH,
        compute=ray.data.ActorPoolStrategy(size=shape.workers),
        num_cpus=shape.cpus,
        num_gpus=shape.gpus,
        runtime_env=worker_runtime_env(),
    )
    summary, shards = ImageRunSummary(), ShardWriter(target)
    started = time.perf_counter()
    try:
        for row in dataset.iter_rows():
            if row["error"]:
                summary.add_failure(row["error"])
            else:
                shards.add(row["record"])
                summary.add(int(row["people"]))
        shards.close()
    except ray.exceptions.RayError as exc:
        raise MiVOLOError(f"the Ray Data image run failed: {reason(exc)}")
    finally:
        probe.unlink(missing_ok=True)
    if summary.processed == 0:
        raise MiVOLOError(f"no image could be read: {summary.errors[0]}")
    summary.seconds = round(time.perf_counter() - started, 3)
    write_images_json(target, shards.records(), summary)
    _, sinks = image_sinks(options, plan)
    run = RunResult(RunInfo(IMAGE_RUN, plan.output_dir, plan.name, source={}, settings={}), RunStats(seconds=summary.seconds))
    for sink in sinks:
        run.outputs.update(sink.close(run))
    run.outputs["images_json"] = target
    result = ImageRunResult(summary.images, summary.processed, summary.failed, summary.people, summary.seconds, summary.errors)
    result.outputs = run.outputs
    return result
