#!/usr/bin/env python
"""Speed benchmark. Setting `cpu`: PyTorch vs ONNX Runtime vs OpenVINO on a few CPU cores (see `mivolo.benchmark_cpu`)."""

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mivolo.backends import BACKENDS  # noqa: E402
from mivolo.errors import MiVOLOError  # noqa: E402

EPILOG = """\
examples:
  python tools/benchmark.py --setting cpu                      # 2 cores, all configs, 5 frames each
  python tools/benchmark.py --setting cpu --frames 20 --detectors n --mivolo-sizes 224

Synthetic weights in the public formats are written and exported to a temporary folder (or
--work-dir, to keep them). Frames are 640x480 with 2 people. Prints a markdown table, the
speed-up of the best backend over torch, and writes the same figures as JSON.
"""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tools/benchmark.py",
        description="End-to-end FPS and per-stage ms (detect, crop+preprocess, MiVOLO) per backend.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--setting", choices=["cpu"], default="cpu", help="what to benchmark (default cpu)")
    parser.add_argument("--cores", type=int, default=2, help="CPU cores to pin to (default 2)")
    parser.add_argument("--frames", type=int, default=5, help="timed frames per config (default 5)")
    parser.add_argument("--warmup", type=int, default=1, help="untimed frames first (default 1)")
    parser.add_argument("--detectors", nargs="+", choices=["n", "s", "m", "l", "x"], default=["x", "n"], help="YOLOv8 sizes")
    parser.add_argument("--mivolo-sizes", nargs="+", type=int, choices=[224, 384], default=[224, 384])
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--work-dir", type=Path, help="where synthetic and exported weights go (default: temporary)")
    parser.add_argument("--json", type=Path, default=Path("benchmark_cpu.json"), help="JSON report path")
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    from mivolo.benchmark_cpu import all_configs, benchmark, format_table, pin_to_cores, prepare_models, speedups, write_report

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
