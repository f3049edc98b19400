#!/usr/bin/env python
"""Speed benchmarks, one entry point.

Setting `cpu`: PyTorch vs ONNX Runtime vs OpenVINO on a few CPU cores (see `mivolo.devtools.benchmark_cpu`).
Setting `pipeline`: the whole video pipeline (demo.py), optimised vs sequential, on a GPU or the
CPU (see `mivolo.devtools.benchmark_pipeline`).
Setting `cpu-workload`: one CPU workload (40 frames of 1080p, YOLOv8n at 640, MiVOLO 224, 8 people)
through demo.py under each thread, backend, precision, batch and estimate-policy setting, side by
side (see `mivolo.devtools.benchmark_workload`).
"""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mivolo.core.runtime import BACKENDS  # noqa: E402
from mivolo.core.errors import MiVOLOError  # noqa: E402

EPILOG = """\
examples:
  python tools/benchmark.py --setting cpu                      # 2 cores, all configs, 5 frames each
  python tools/benchmark.py --setting cpu --frames 20 --detectors n --mivolo-sizes 224
  python tools/benchmark.py --setting pipeline --device cuda   # 1080p, YOLOv8x, K = 0/8/32, fp16, 300 frames
  python tools/benchmark.py --setting pipeline --device cpu    # small: 640x360, YOLOv8n, K = 0/2/4, 8 frames
  python tools/benchmark.py --setting pipeline --device cpu --people 0 8 --frames 4 --detectors x
  python tools/benchmark.py --setting cpu-workload --rounds 3   # every setting below, 3 interleaved rounds
  python tools/benchmark.py --setting cpu-workload --workload-settings 8 11 --frames 120

Setting cpu-workload (--workload-settings picks by number; 1 is always run, as the reference):
{workload_settings}

Setting pipeline: demo.py runs on a generated video with K scripted people (mivolo.devtools.scripted), once
--sequential and once optimised (--batch), per MiVOLO size and K; prints FPS, the ratio,
per-stage ms, peak CPU RSS and GPU memory, and writes them as JSON (--json).

Setting cpu:

Synthetic weights in the public formats are written and exported to a temporary folder (or
--work-dir, to keep them). Frames are 640x480 with 2 people. Prints a markdown table, the
speed-up of the best backend over torch, and writes the same figures as JSON.
"""


def workload_settings_text() -> str:
    from mivolo.devtools.benchmark_workload import SETTINGS

    return "\n".join(f"  {number:2d}  {setting.name}" for number, setting in enumerate(SETTINGS, 1))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tools/benchmark.py",
        description="End-to-end FPS and per-stage ms (detect, crop+preprocess, MiVOLO) per backend.",
        epilog=EPILOG.format(workload_settings=workload_settings_text()),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--setting", choices=["cpu", "pipeline", "cpu-workload"], default="cpu", help="what to benchmark (default cpu)")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to pin to (default 2)")
    parser.add_argument("--frames", type=int, help="timed frames per config (default 5; pipeline: 300 on GPU, 8 on CPU)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed frames first (default 1)")
    parser.add_argument("--detectors", nargs="+", choices=["n", "s", "m", "l", "x"], help="YOLOv8 sizes (default x n; pipeline: its first, x on GPU, n on CPU)")
    parser.add_argument("--mivolo-sizes", nargs="+", type=int, choices=[224, 384], help="MiVOLO input sizes (default 224 384)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--work-dir", type=Path, help="where synthetic and exported weights go (default: temporary)")
    parser.add_argument("--json", type=Path, help="JSON report path (default benchmark_<setting>.json)")
    pipeline = parser.add_argument_group("setting pipeline")
    pipeline.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: cuda if available)")
    pipeline.add_argument("--people", nargs="+", type=int, metavar="K", help="scripted people per frame")
    pipeline.add_argument("--frame-size", metavar="WxH", help="video size (default 1920x1080 on GPU, 640x360 on CPU)")
    pipeline.add_argument("--detector-imgsz", type=int, help="detector input size (default 640 on GPU, 320 on CPU)")
    pipeline.add_argument("--batch", type=int, help="optimised path's frames per batch (default 16 on GPU, 4 on CPU)")
    pipeline.add_argument("--compile", action="store_true", help="torch.compile MiVOLO in the optimised path")
    pipeline.add_argument("--tracker", default="botsort.yaml", help="tracker config (default botsort.yaml)")
    workload = parser.add_argument_group("setting cpu-workload (also --frames, default 40; --frame-size, default 1920x1080; --cores)")
    workload.add_argument("--rounds", type=int, default=1, help="interleaved rounds over the settings (default 1)")
    workload.add_argument("--workload-settings", nargs="+", metavar="N", help="settings by number (default all)")
    workload.add_argument("--workload-people", type=int, default=8, metavar="K", help="scripted people per frame (default 8)")
    return parser


def run_workload_setting(args) -> int:
    from mivolo.devtools.benchmark_cpu import pin_to_cores
    from mivolo.devtools.benchmark_pipeline import parse_size
    from mivolo.devtools.benchmark_workload import Workload, benchmark_workload, choose, format_table, write_report

    if args.rounds < 1:
        raise MiVOLOError("--rounds must be at least 1")
    workload = Workload(
        frames=args.frames or 40,
        frame_size=parse_size(args.frame_size) if args.frame_size else (1920, 1080),
        people=args.workload_people,
    )
    settings = choose(args.workload_settings)
    cores = pin_to_cores(args.cores)  # demo.py's child processes inherit the cores
    with tempfile.TemporaryDirectory(prefix="mivolo-bench-") as temporary:
        work_dir = args.work_dir or Path(temporary)
        work_dir.mkdir(parents=True, exist_ok=True)
        results = benchmark_workload(workload, settings, args.rounds, work_dir)
    width, height = workload.frame_size
    print(
        f"\nCPU workload: {workload.frames} frames {width}x{height}, YOLOv8n at {workload.detector_imgsz}, MiVOLO d1 "
        f"{workload.mivolo_size}, {workload.people} people, {len(cores)} cores, {args.rounds} rounds "
        f"(machine load {os.getloadavg()[0]:.1f}); deviations are from setting 1"
    )
    print(format_table(results))
    print(f"JSON: {write_report(args.json or Path('benchmark_cpu_workload.json'), workload, results, args.rounds)}")
    return 0


def run_pipeline_setting(args) -> int:
    import torch

    from mivolo.devtools.benchmark_pipeline import PipelineBenchmarkSettings, benchmark_pipeline, check, describe, format_table, parse_size, write_report

    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    settings = PipelineBenchmarkSettings.for_device(
        device,
        frame_size=parse_size(args.frame_size) if args.frame_size else None,
        frames=args.frames,
        people=tuple(args.people) if args.people else None,
        mivolo_sizes=tuple(args.mivolo_sizes) if args.mivolo_sizes else None,
        detector_scale=args.detectors[0] if args.detectors else None,
        detector_imgsz=args.detector_imgsz,
        batch=args.batch,
        compile=args.compile or None,
        tracker=args.tracker,
    )
    check(settings)
    if device == "cpu":
        from mivolo.devtools.benchmark_cpu import pin_to_cores

        pin_to_cores(args.cores)  # demo.py's child processes inherit the cores
    with tempfile.TemporaryDirectory(prefix="mivolo-bench-") as temporary:
        work_dir = args.work_dir or Path(temporary)
        work_dir.mkdir(parents=True, exist_ok=True)
        report = benchmark_pipeline(settings, work_dir)
    print(f"\n{describe(settings)} (machine load {os.getloadavg()[0]:.1f})")
    print(format_table(report))
    for row in report.speedups():
        print(f"MiVOLO {row['mivolo']}, K={row['people']}: optimised {row['optimised_fps']} FPS vs sequential {row['sequential_fps']} FPS = {row['speedup']}x")
    print(f"JSON: {write_report(args.json or Path('benchmark_pipeline.json'), report)}")
    return 0


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    if args.setting in ("pipeline", "cpu-workload"):
        try:
            return run_pipeline_setting(args) if args.setting == "pipeline" else run_workload_setting(args)
        except MiVOLOError as exc:
            print(f"benchmark.py: error: {exc}", file=sys.stderr)
            return 2
    args.frames = 5 if args.frames is None else args.frames
    args.detectors = args.detectors or ["x", "n"]
    args.mivolo_sizes = args.mivolo_sizes or [224, 384]
    args.json = args.json or Path("benchmark_cpu.json")
    from mivolo.devtools.benchmark_cpu import all_configs, benchmark, format_table, pin_to_cores, prepare_models, speedups, write_report

    try:
        cores = pin_to_cores(args.cores)
        with tempfile.TemporaryDirectory(prefix="mivolo-bench-") as temporary:
            work_dir = args.work_dir or Path(temporary)
            work_dir.mkdir(parents=True, exist_ok=True)
            models = prepare_models(work_dir, args.detectors, args.mivolo_sizes, args.backends)
            results = benchmark(models, all_configs(args.detectors, args.mivolo_sizes, args.backends), args.frames, args.warmup)
    except MiVOLOError as exc:
        print(f"benchmark.py: error: {exc}", file=sys.stderr)
        return 2
    print(
        f"\nCPU benchmark, {len(cores)} cores, 640x480, 2 people per frame, {args.frames} frames per config "
        f"(machine load {os.getloadavg()[0]:.1f})"
    )
    print(format_table(results))
    for row in speedups(results):
        print(f"yolov8{row['detector'][-1]} + MiVOLO {row['mivolo']}: {row['best_backend']} is {row['speedup_vs_torch']}x torch")
    print(f"JSON: {write_report(args.json, results, cores, args.frames)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
