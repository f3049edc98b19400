#!/usr/bin/env python
"""Generate a benchmark-shaped dataset (drawn figures + annotation CSV) and a random-weight
MiVOLO checkpoint, to measure eval_pretrained.py throughput without any real data or weights.

example (the CPU figure in the evaluation notes):
  python tools/make_synthetic_eval_set.py --output /tmp/synth_eval --count 1000
  python eval_pretrained.py --dataset_images /tmp/synth_eval/images \\
      --dataset_annotations /tmp/synth_eval/annotations --dataset_name lagenda --split test \\
      --checkpoint /tmp/synth_eval/mivolo_d1_224_random.pth.tar --with-persons --batch-size 64 --device cpu
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path
from typing import List, Optional

import cv2
import numpy as np
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run from a checkout without installing

from mivolo.evaluation.dataset import PERSON_COLUMNS, REQUIRED_COLUMNS  # noqa: E402
from mivolo.devtools.synthetic import write_mivolo_checkpoint  # noqa: E402

IMAGE_W, IMAGE_H = 192, 256


def draw_figure(rng: np.random.Generator):
    """A noisy background with one body and a face; returns the image and the two boxes."""
    image = rng.integers(40, 200, (IMAGE_H, IMAGE_W, 3), dtype=np.uint8)
    px0, py0 = int(rng.integers(0, 40)), int(rng.integers(0, 30))
    px1, py1 = int(rng.integers(px0 + 110, IMAGE_W + 1)), int(rng.integers(py0 + 150, IMAGE_H + 1))
    cv2.rectangle(image, (px0, py0 + 40), (px1 - 1, py1 - 1), tuple(int(c) for c in rng.integers(0, 255, 3)), -1)
    face_w = int(rng.integers(28, 48))
    fx0 = (px0 + px1 - face_w) // 2
    fy0 = py0 + 2
    face = (fx0, fy0, fx0 + face_w, fy0 + int(face_w * 1.2))
    centre = ((face[0] + face[2]) // 2, (face[1] + face[3]) // 2)
    cv2.ellipse(image, centre, (face_w // 2, int(face_w * 0.6)), 0, 0, 360, (140, 170, 220), -1)
    return image, face, (px0, py0, px1, py1)


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="make_synthetic_eval_set.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--output", required=True, type=Path, metavar="DIR")
    parser.add_argument("--count", type=int, default=1000, help="images (default: 1000)")
    parser.add_argument("--input-size", type=int, default=224, choices=(224, 384), help="checkpoint input size")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    images_dir, annotations_dir = args.output / "images", args.output / "annotations"
    images_dir.mkdir(parents=True, exist_ok=True)
    annotations_dir.mkdir(parents=True, exist_ok=True)
    with open(annotations_dir / "synthetic_test.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(REQUIRED_COLUMNS + PERSON_COLUMNS)
        for index in tqdm(range(args.count), desc="Drawing", unit="img"):
            image, face, person = draw_figure(rng)
            name = f"{index:05d}.jpg"
            cv2.imwrite(str(images_dir / name), image)
            writer.writerow([name, int(rng.integers(1, 90)), "M" if rng.random() < 0.5 else "F", *face, *person])
    checkpoint = args.output / f"mivolo_d1_{args.input_size}_random.pth.tar"
    write_mivolo_checkpoint(checkpoint, file_format="legacy", input_size=args.input_size, seed=args.seed)
    print(f"{args.count} images in {images_dir}, annotations in {annotations_dir}, checkpoint {checkpoint}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
