"""Run a checkpoint over a benchmark split and report the published figures (eval_pretrained.py).

Data path: worker processes crop and letterbox (uint8), pinned memory carries the batch to the
device, where it is normalised as (x - mean*255) / (std*255); the network is warmed up before
the timed loop. The results keep the published key names (`agetop1`, `csl`, `max_error`, ...)
with self-explanatory aliases beside them.
"""

from __future__ import annotations

import csv
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Optional, Tuple

import cv2
import torch
from timm.data import IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD
from tqdm import tqdm

from mivolo.core.runtime import Runtime
from mivolo.core.errors import MiVOLOError
from mivolo.evaluation.dataset import CropSettings, DatasetReport, EvalDataset, load_split
from mivolo.evaluation.names import RESULTS_FORMATS
from mivolo.evaluation.metrics import AgeScale, MetricsAccumulator, MetricsSummary, bins_for_dataset
from mivolo.io.safe_output import atomic_path, ensure_writable_dir, write_json_atomic
from mivolo.model.mi_volo import Meta, MiVOLO

_logger = logging.getLogger("mivolo.evaluation")



@dataclass(frozen=True)
class EvalOptions:
    dataset_images: Path
    dataset_annotations: Path
    dataset_name: str
    splits: Tuple[str, ...]
    checkpoint: Path
    batch_size: int = 64
    workers: int = 4
    device: Optional[str] = None
    l_for_cs: int = 5
    half: bool = False
    with_persons: bool = False
    disable_faces: bool = False
    draw_hist: bool = False
    hist_file: Path = Path("age_error.png")
    results_file: Optional[Path] = None
    results_format: Optional[str] = None  # csv or json; None: from the --results-file extension
    skip_bad: bool = False
    warmup_steps: int = 2
    progress: bool = True
    backend: Optional[str] = None  # torch, onnx, openvino; None: from the checkpoint's file type


@dataclass(frozen=True)
class Timing:
    samples: int
    preprocessing_s: float
    inference_s: float
    loop_s: float


def _validate(options: EvalOptions) -> None:
    if options.batch_size < 1:
        raise MiVOLOError(f"--batch-size must be at least 1, got {options.batch_size}")
    if options.workers < 0:
        raise MiVOLOError(f"--workers must be 0 or more, got {options.workers}")
    if options.l_for_cs < 0:
        raise MiVOLOError(f"--l-for-cs must be 0 or more, got {options.l_for_cs}")
    if options.warmup_steps < 0:
        raise MiVOLOError(f"--warmup-steps must be 0 or more, got {options.warmup_steps}")
    if not options.splits:
        raise MiVOLOError("--split is empty: give one or more names separated by commas")
    # fail before the long run, not after it
    outputs = {"--results-file": options.results_file, "--hist-file": options.hist_file if options.draw_hist else None}
    for flag, path in outputs.items():
        if path is None:
            continue
        # the file is renamed over the target at the end: a folder would fail then, a device or FIFO be replaced
        if path.exists() and not path.is_file():
            kind = "a folder" if path.is_dir() else "not a regular file"
            raise MiVOLOError(f"{flag} {path} is {kind}; give the path of a file to write")
        ensure_writable_dir(path.parent)
    results_format_for(options)


def results_format_for(options: EvalOptions) -> Optional[str]:
    """csv or json: --results-format where given, else the --results-file extension; None without a file."""
    chosen = options.results_format
    if chosen is not None and chosen not in RESULTS_FORMATS:
        raise MiVOLOError(f"--results-format must be one of {', '.join(RESULTS_FORMATS)}, got {chosen!r}")
    path = options.results_file
    if path is None:
        if chosen is not None:
            raise MiVOLOError(f"--results-format {chosen} needs --results-file (nothing would be written)")
        return None
    suffix = path.suffix.lower().lstrip(".")
    from_name = suffix if suffix in RESULTS_FORMATS else None
    if chosen is not None and from_name is not None and chosen != from_name:
        raise MiVOLOError(f"--results-format {chosen} contradicts --results-file {path}; drop one of them")
    if chosen is None and from_name is None:
        raise MiVOLOError(
            f"--results-file {path}: the format follows the extension (.csv or .json); "
            f"give --results-format {' or '.join(RESULTS_FORMATS)} for another name"
        )
    return chosen or from_name


def _sync_time(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter()


class DeviceNormalizer:
    """uint8 RGB batches -> (x - mean*255) / (std*255) in float32 on the device."""

    def __init__(self, channels: int, device: torch.device):
        repeats = channels // 3
        shape = (1, channels, 1, 1)
        self.device = device
        self.mean = torch.tensor([m * 255 for m in IMAGENET_DEFAULT_MEAN] * repeats, device=device).view(shape)
        self.std = torch.tensor([s * 255 for s in IMAGENET_DEFAULT_STD] * repeats, device=device).view(shape)

    def __call__(self, images: torch.Tensor) -> torch.Tensor:
        return images.to(self.device, non_blocking=True).float().sub_(self.mean).div_(self.std)


def _quiet_worker(_worker_id: int) -> None:
    # each worker decodes one image at a time: library thread pools would only fight for cores
    cv2.setNumThreads(1)
    torch.set_num_threads(1)


def _progress_postfix(metrics: MetricsAccumulator) -> Dict[str, str]:
    postfix = {}
    if metrics.running_mae is not None:
        postfix["MAE"] = f"{metrics.running_mae:.3f}"
    if metrics.running_age_accuracy is not None:
        postfix["age acc"] = f"{metrics.running_age_accuracy:.2f}%"
    if metrics.running_gender_accuracy is not None:
        postfix["gender acc"] = f"{metrics.running_gender_accuracy:.2f}%"
    return postfix


def evaluate(options: EvalOptions) -> Tuple[dict, MetricsSummary, DatasetReport]:
    """The whole evaluation; returns the results mapping, the metrics and the data report."""
    _validate(options)
    runtime = Runtime.resolve(options.device, options.half, options.backend)
    device = runtime.device
    mivolo = MiVOLO(
        str(options.checkpoint), use_persons=options.with_persons, disable_faces=options.disable_faces, runtime=runtime
    )
    meta = mivolo.meta
    bins = bins_for_dataset(options.dataset_name)
    settings = CropSettings(use_faces=meta.use_face_crops, use_persons=meta.use_person_crops, only_age=meta.only_age)
    samples, report = load_split(
        options.dataset_images,
        options.dataset_annotations,
        options.splits,
        bins,
        settings,
        skip_bad=options.skip_bad,
        progress=options.progress,
    )
    dataset = EvalDataset(samples, meta.input_size, with_body_channels=meta.with_persons_model)

    if device.type == "cuda":
        # as the published evaluation: TF32 matmuls and cuDNN autotuning
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    loader = torch.utils.data.DataLoader(
        dataset,
        batch_size=options.batch_size,
        shuffle=False,
        num_workers=options.workers,
        pin_memory=device.type == "cuda",
        worker_init_fn=_quiet_worker if options.workers else None,
        # workers start fresh: a forked child inherits the thread pools the models' loading set up
        # (OpenCV's among them) without their threads, and resizing them there can hang for ever
        multiprocessing_context="spawn" if options.workers else None,
    )
    normalize = DeviceNormalizer(meta.in_chans, device)
    metrics = MetricsAccumulator(
        AgeScale(meta.min_age, meta.max_age),
        bins,
        l_for_cs=options.l_for_cs,
        with_gender=not meta.only_age,
        keep_errors=options.draw_hist,
    )
    mivolo.warmup(min(options.batch_size, len(dataset)), options.warmup_steps)
    _sync_time(device)
    timing = _run_batches(mivolo, loader, normalize, metrics, device, options.progress)
    summary = metrics.summary()
    results = build_results(options, meta, mivolo.param_count, device, mivolo.half, report, timing, summary)
    return results, summary, report


def _run_batches(
    mivolo: MiVOLO,
    loader: torch.utils.data.DataLoader,
    normalize: DeviceNormalizer,
    metrics: MetricsAccumulator,
    device: torch.device,
    progress: bool,
) -> Timing:
    preprocessing = inference = 0.0
    seen = 0
    bar = tqdm(total=len(loader.dataset), desc="Evaluating", unit="img", disable=not progress)
    start = mark = _sync_time(device)
    with torch.inference_mode():
        try:
            for batch in loader:
                images = normalize(batch.image)
                ready = _sync_time(device)
                output = mivolo.inference(images).to(device)  # exported runtimes answer on the CPU
                done = _sync_time(device)
                preprocessing += ready - mark
                inference += done - ready
                metrics.update(output, batch.age, batch.gender)
                seen += images.shape[0]
                bar.update(images.shape[0])
                bar.set_postfix(_progress_postfix(metrics), refresh=False)
                mark = _sync_time(device)
        except MiVOLOError as exc:
            raise MiVOLOError(_worker_message(exc)) from exc
        finally:
            bar.close()
    return Timing(seen, preprocessing, inference, mark - start)


def _worker_message(exc: MiVOLOError) -> str:
    """A loader worker's MiVOLOError comes back as "Caught MiVOLOError in DataLoader worker process N."
    plus the worker's traceback, whose last line is "mivolo.core.errors.MiVOLOError: <message>"."""
    lines = str(exc).rstrip().splitlines()
    if len(lines) <= 1:
        return str(exc)
    return lines[-1].partition(": ")[2] or lines[0]


def build_results(
    options: EvalOptions,
    meta: Meta,
    parameters: int,
    device: torch.device,
    half: bool,
    report: DatasetReport,
    timing: Timing,
    summary: MetricsSummary,
) -> dict:
    """Published keys first (same names and units), then aliases and run facts."""
    results = dict(
        model=str(options.checkpoint),
        dataset_name=options.dataset_name,
        param_count=round(parameters / 1e6, 2),
        img_size=meta.input_size,
        use_faces=meta.use_face_crops,
        use_persons=meta.use_person_crops,
        in_chans=meta.in_chans,
        batch=options.batch_size,
        mean_inference_time=timing.inference_s / timing.samples * 1e3,
        mean_preprocessing_time=timing.preprocessing_s / timing.samples * 1e3,
    )
    age_figure = summary.mae if summary.mae is not None else summary.age_class_accuracy
    results["agetop1"] = None if age_figure is None else round(age_figure, 4)
    results["agetop1_err"] = None if age_figure is None else round(100 - age_figure, 4)
    if summary.mae is not None:
        results["max_error"] = summary.ce_at_20
        results["csl"] = summary.cs_at_l
        results["per_age_error"] = {str(age): errors for age, errors in summary.per_age_errors.items()}
    if summary.gender_accuracy is not None:
        results["gendertop1"] = round(summary.gender_accuracy, 4)
        results["gendertop1_err"] = round(100 - summary.gender_accuracy, 4)
    # self-explanatory aliases (full precision; cs_at_l and ce_at_20 are fractions like csl/max_error)
    if summary.mae is not None:
        results.update(
            mae=summary.mae,
            cs_at_l=summary.cs_at_l,
            l_for_cs=options.l_for_cs,
            ce_at_20=summary.ce_at_20,
            per_age_mae={str(age): mae for age, mae in summary.per_age_mae.items()},
            per_age_count={str(age): n for age, n in summary.per_age_count.items()},
        )
    if summary.age_class_accuracy is not None:
        results["age_class_accuracy"] = summary.age_class_accuracy
    if summary.gender_accuracy is not None:
        results["gender_accuracy"] = summary.gender_accuracy
    results.update(
        split=",".join(options.splits),
        parameters=parameters,
        device=str(device),
        half=half,
        samples=timing.samples,
        age_samples=summary.age_samples,
        gender_samples=summary.gender_samples,
        skipped_bad_rows=len(report.bad_rows),
        images_per_second=timing.samples / timing.loop_s if timing.loop_s > 0 else None,
    )
    return results


def write_results(path: Path, results: dict, results_format: str) -> Path:
    """One JSON object, or a CSV header + one row (nested values as JSON text), written atomically."""
    if results_format == "json":
        return write_json_atomic(path, results)
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(results))
        writer.writeheader()
        writer.writerow(
            {k: json.dumps(v, allow_nan=False) if isinstance(v, (dict, list)) else v for k, v in results.items()}
        )
    return path


def plot_age_errors(summary: MetricsSummary, path: Path, title: str) -> Path:
    """Bar chart of MAE per true age, with the number of samples per age on a second axis."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    ages = list(summary.per_age_mae)
    errors = [summary.per_age_mae[age] for age in ages]
    counts = [summary.per_age_count[age] for age in ages]
    figure, axis = plt.subplots(figsize=(12, 5.5), dpi=120)
    try:
        counts_axis = axis.twinx()
        counts_axis.bar(ages, counts, width=0.9, color="#d9d9d9", label="samples per age")
        counts_axis.set_ylabel("samples", color="#6e6e6e")
        counts_axis.tick_params(axis="y", colors="#6e6e6e")
        counts_axis.yaxis.set_major_locator(MaxNLocator(integer=True))
        axis.set_zorder(counts_axis.get_zorder() + 1)
        axis.patch.set_visible(False)
        axis.plot(ages, errors, "o-", color="#c0392b", markersize=4, linewidth=1.2, label="MAE at this true age")
        axis.axhline(summary.mae, color="#2c3e50", linestyle="--", linewidth=1, label=f"overall MAE {summary.mae:.2f}")
        axis.set_xlabel("true age (years)")
        axis.set_ylabel("mean absolute error (years)")
        axis.set_ylim(bottom=0)
        axis.grid(True, axis="y", alpha=0.3)
        axis.set_title(title)
        handles = axis.get_legend_handles_labels()
        count_handles = counts_axis.get_legend_handles_labels()
        # below the axes, so that it never hides a data point
        axis.legend(
            handles[0] + count_handles[0],
            handles[1] + count_handles[1],
            loc="upper center",
            bbox_to_anchor=(0.5, -0.12),
            ncol=3,
            frameon=False,
        )
        figure.tight_layout()
        with atomic_path(path) as tmp:
            figure.savefig(tmp, format="png")
    finally:
        plt.close(figure)
    return path
