"""Command line of demo.py: parse, validate cheaply, then run the image or video job."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import List, Optional

from mivolo.errors import MiVOLOError
from mivolo.io_utils import ensure_writable_dir

DESCRIPTION = """\
Detect people in images, estimate each one's age and gender with MiVOLO, and write an
annotated copy plus a JSON of the results.

Without --detector-weights / --checkpoint the public weights are fetched once from the
Hugging Face hub (YOLOv8x person+face detector, MiVOLO v2) and cached.
"""

EPILOG = """\
examples:
  python demo.py --input photo.jpg --output out --draw
  python demo.py --input photos/ --output out --with-persons --device cpu
  python demo.py --input photo.jpg --output out --checkpoint models/mivolo_d1.pth.tar \\
      --detector-weights models/yolov8x_person_face.pt

exit codes: 0 done (bad files in a folder are skipped and counted), 2 bad input or weights.
"""


def add_model_arguments(parser: argparse.ArgumentParser) -> None:
    models = parser.add_argument_group("models")
    models.add_argument("--detector-weights", metavar="PATH", help="YOLOv8 person+face .pt (default: hub download)")
    models.add_argument("--checkpoint", metavar="PATH", help="MiVOLO .pth.tar, .safetensors or folder (default: MiVOLO v2)")
    models.add_argument("--device", default=None, help="cpu, cuda or cuda:N (default: first GPU, else cpu)")
    models.add_argument("--with-persons", action="store_true", help="use body crops as well as faces")
    models.add_argument("--disable-faces", action="store_true", help="estimate from bodies only (needs --with-persons)")
    models.add_argument("--half", action="store_true", help="fp16 inference on GPU (ignored on cpu)")
    models.add_argument(
        "--detector-imgsz", type=int, default=640, metavar="N", help="detector input size; smaller is faster (default 640)"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="demo.py",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--input", required=True, metavar="PATH", help="image file or folder (searched recursively)")
    parser.add_argument("--output", default="output", metavar="DIR", help="output folder (default: output)")
    parser.add_argument("--draw", action="store_true", help="save annotated images as out_<name>.jpg")
    parser.add_argument(
        "--json-output-path", metavar="PATH", help="where to write the run's JSON (default: OUTPUT/images.json)"
    )
    parser.add_argument("--verbose", action="store_true", help="log details and show tracebacks")
    add_model_arguments(parser)
    return parser


def run(args: argparse.Namespace) -> int:
    from mivolo.image_job import run_images
    from mivolo.predictor import Predictor
    from mivolo.sources import image_inputs

    images = image_inputs(args.input)
    output_dir = ensure_writable_dir(args.output)
    json_path = Path(args.json_output_path) if args.json_output_path else None
    if json_path is not None:
        ensure_writable_dir(json_path.parent)
    predictor = Predictor(args, verbose=args.verbose)
    summary = run_images(predictor, images, output_dir, json_path)
    print(
        f"Processed {summary.processed}/{summary.images} images in {summary.seconds:.2f} s, "
        f"{summary.people} people found, {summary.failed} failed"
    )
    for error in summary.errors:
        print(f"  skipped {error}")
    print(f"Results saved to: {json_path or output_dir / 'images.json'}")
    return 0


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return run(args)
    except MiVOLOError as exc:
        if args.verbose:
            raise
        print(f"demo.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("demo.py: interrupted", file=sys.stderr)
        return 130
