"""Export MiVOLO and/or the detector for ONNX Runtime and OpenVINO (see `mivolo.model.export`)."""

import argparse

from mivolo.cli.common import add_run_arguments, configure_logging
from mivolo.core.errors import run_command
from mivolo.model.export_formats import DEFAULT_OPSET, EXPORT_FORMATS

PROG = "tools/export.py"
EPILOG = """\
examples:
  python tools/export.py --checkpoint models/mivolo_d1.pth.tar --output exported
  python tools/export.py --checkpoint models/mivolo_v2 --format onnx openvino --output exported
  python tools/export.py --detector-weights models/yolov8x_person_face.pt --output exported

then run with the exported files (the backend follows the extension, or say --backend):
  python demo.py --input photo.jpg --output out --device cpu \\
      --checkpoint exported/mivolo_d1.onnx --detector-weights exported/yolov8x_person_face.onnx

MiVOLO exports carry the checkpoint's age scale and head layout, have a dynamic batch axis, and
are checked against PyTorch before they are written. exit codes: 0 done, 2 bad input.
"""


def build_parser(prog: str = PROG) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Export MiVOLO (face+body or face-only, 224 or 384) and the YOLOv8 person+face detector "
        "to ONNX and OpenVINO, for CPU inference without PyTorch.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--checkpoint", metavar="PATH", help="MiVOLO .pth.tar, .safetensors or Hugging Face folder")
    parser.add_argument("--detector-weights", metavar="PATH", help="ultralytics YOLOv8 person+face .pt")
    parser.add_argument("--output", required=True, metavar="DIR", help="folder for the exported files")
    parser.add_argument(
        "--format", nargs="+", choices=EXPORT_FORMATS, default=list(EXPORT_FORMATS), help="what to write (default: both)"
    )
    parser.add_argument("--opset", type=int, default=DEFAULT_OPSET, help=f"MiVOLO ONNX opset (default {DEFAULT_OPSET})")
    parser.add_argument("--detector-imgsz", type=int, default=640, metavar="N", help="detector input size (default 640)")
    add_run_arguments(parser, progress=False)
    return parser


def main(argv=None, prog: str = PROG) -> int:
    parser = build_parser(prog)
    args = parser.parse_args(argv)
    if not args.checkpoint and not args.detector_weights:
        parser.error("give --checkpoint and/or --detector-weights")
    configure_logging(args.verbose)

    def body() -> int:
        from mivolo.model.export import export_detector, export_mivolo

        exported = []
        if args.checkpoint:
            exported += export_mivolo(args.checkpoint, args.output, formats=args.format, opset=args.opset)
        if args.detector_weights:
            exported += export_detector(args.detector_weights, args.output, formats=args.format, imgsz=args.detector_imgsz)
        for item in exported:
            check = "" if item.max_abs_diff is None else f" (max |diff| vs PyTorch {item.max_abs_diff:.1e})"
            print(f"{item.format:9s} {item.path}{check}")
        return 0

    return run_command(prog, body, args.verbose)

