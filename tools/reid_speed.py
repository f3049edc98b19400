#!/usr/bin/env python
"""Re-ID backbone speed: embedding dim, parameters and crops/s at a batch size, random weights.

python tools/reid_speed.py                      # every backbone, CPU, batch 32
python tools/reid_speed.py --device cuda --architectures osnet_x0_25 clip_vit_b16
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from mivolo.reid.architecture import architectures, get_architecture
from mivolo.reid.encoder import ReIDEncoder
from mivolo.reid.loading import LoadedNetwork
from mivolo.devtools.reid_synthetic import random_network


def crops_per_second(encoder: ReIDEncoder, batch: int, min_seconds: float) -> float:
    height, width = encoder.input_size
    crops = np.random.default_rng(0).integers(0, 255, (batch, height, width, 3), dtype=np.uint8)
    encoder.embed_crops(crops)  # warm-up: first-call allocations and kernel selection
    runs, start = 0, time.perf_counter()
    while runs < 2 or time.perf_counter() - start < min_seconds:
        encoder.embed_crops(crops)
        runs += 1
    if encoder.device.type == "cuda":
        torch.cuda.synchronize()
    return runs * batch / (time.perf_counter() - start)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--architectures", nargs="+", default=sorted(architectures()), metavar="NAME")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=3.0, help="minimum timed seconds per backbone")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's choice)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"device {args.device}, batch {args.batch}, torch threads {torch.get_num_threads()}")
    print("| backbone | family | embedding dim | parameters | input | crops/s |")
    print("|---|---|---|---|---|---|")
    for name in args.architectures:
        spec = get_architecture(name)
        network = random_network(name)
        encoder = ReIDEncoder(LoadedNetwork(network, spec, None), name, args.device, batch_size=args.batch)
        speed = crops_per_second(encoder, args.batch, args.seconds)
        height, width = spec.input_size
        print(
            f"| {name} | {spec.family} | {spec.embedding_dim} | {encoder.num_parameters:,} | {height}x{width} | {speed:.1f} |",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
