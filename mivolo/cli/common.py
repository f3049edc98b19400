"""What every command line shares: the flag builders, logging, and the runtime they resolve.

These modules import nothing heavy (no torch, ultralytics or scipy), so that `--help` and
argument errors answer at once; the models are loaded only once a command has work to do.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys
from typing import TYPE_CHECKING, List, Optional

from mivolo.core.runtime import BACKENDS, FP32, PRECISIONS

if TYPE_CHECKING:
    from mivolo.core.runtime import Runtime

DEFAULT_DETECTOR_IMGSZ = 640


def add_runtime_arguments(group) -> None:
    """--device, --half, --backend, --threads and --precision: where and how the models run
    (every tool that runs MiVOLO)."""
    group.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: first GPU, else cpu)")
    group.add_argument("--half", action="store_true", help="fp16 inference on a GPU (ignored on the CPU)")
    group.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="inference runtime (default: from the weight files: .onnx -> onnx, .xml or *_openvino_model -> "
        "openvino, else torch); export with tools/export.py",
    )
    group.add_argument(
        "--threads",
        type=int,
        default=None,
        metavar="N",
        help="CPU threads for torch, OpenCV, ONNX Runtime and OpenVINO (default: the physical cores)",
    )
    group.add_argument(
        "--precision",
        choices=PRECISIONS,
        default=FP32,
        help="MiVOLO's arithmetic on the CPU: bf16 runs torch under autocast and OpenVINO with its bf16 hint; "
        "fast only on CPUs with bf16 instructions (AVX-512 BF16, AMX), ages move slightly (default fp32)",
    )


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """The detector and MiVOLO weights, which crops MiVOLO uses, and the runtime."""
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
        default=DEFAULT_DETECTOR_IMGSZ,
        metavar="N",
        help=f"detector input size; smaller is faster (default {DEFAULT_DETECTOR_IMGSZ})",
    )


def add_run_arguments(parser, progress: bool = True) -> None:
    """--verbose, and --no-progress for commands with progress bars."""
    if progress:
        parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    parser.add_argument("--verbose", action="store_true", help="log details and show tracebacks")


def check_model_arguments(args: argparse.Namespace) -> None:
    """The model flags' rules that need no model: checked before anything is loaded."""
    from mivolo.core.errors import MiVOLOError

    if args.disable_faces and not args.with_persons:
        raise MiVOLOError("faces and persons cannot both be disabled: add --with-persons to use --disable-faces")
    if args.detector_imgsz < 32:
        raise MiVOLOError(f"--detector-imgsz must be at least 32, got {args.detector_imgsz}")


def runtime_of(args: argparse.Namespace) -> "Runtime":
    """The run's Runtime from --device/--half/--backend/--threads/--precision (this is where torch
    is first imported); --verbose logs the device, threads and precision it resolved."""
    from mivolo.core.runtime import Runtime

    runtime = Runtime.resolve(args.device, args.half, args.backend, args.threads, args.precision)
    logging.getLogger("mivolo").info(
        "runtime: %s, %d threads requested, %s", runtime.device, runtime.threads, runtime.precision
    )
    return runtime


def configure_logging(verbose: bool) -> None:
    """Warnings only, or everything with --verbose (ultralytics' model summaries and loading lines too;
    mivolo/__init__ keeps them quiet otherwise)."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")
    if verbose:
        logging.getLogger("ultralytics").setLevel(logging.INFO)


def launch(module: str, prog: str, argv: Optional[List[str]] = None) -> int:
    """Import a command's module and run its `main` under the name `prog`: Ctrl-C while it is
    still starting up (the imports take a moment) is one line and exit code 130, as it is later."""
    try:
        main = importlib.import_module(module).main
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
    return main(argv, prog=prog)
