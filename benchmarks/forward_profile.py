#!/usr/bin/env python
"""Where the MiVOLO forward spends its time on the CPU, against the original's formulation.

The original ran timm's VOLO Outlooker (F.fold) and the fusion block's explicit
softmax(q k * scale + rel_pos) v. This project runs the same on a CPU; on a GPU its fusion
attention is torch's SDPA, and its exports fold with `fold_patches` (which ONNX can express).
Each variant gets the same random weights (mivolo_d1_224, face+body) and a batch of 8 at 224; each is timed in turn,
round after round, so a machine whose load changes slows them alike. Prints the median ms of
the whole forward and of the Outlookers' and the fusion block's attention alone, at 1 and 2
threads, and the largest output difference from the original's formulation.

    python benchmarks/forward_profile.py [--rounds 5] [--threads 1 2]
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
from timm.models.volo import OutlookAttention, Outlooker  # noqa: E402

from mivolo.devtools.synthetic import random_mivolo  # noqa: E402


def variant(model, timm_fold: bool, fused_on_cpu: bool, fold_with_patches: bool = False):
    model = copy.deepcopy(model)
    for block in (block for block in model.modules() if isinstance(block, Outlooker)):
        if timm_fold:
            original = OutlookAttention(dim=192, num_heads=block.attn.num_heads, kernel_size=3, padding=1, stride=2)
            original.load_state_dict(block.attn.state_dict(), strict=True)
            block.attn = original.eval()
        else:
            block.attn.fold_with_patches = fold_with_patches
    if fused_on_cpu:  # what runs on a GPU and in the exports
        fusion = model.patch_embed.map
        fusion._attend_explicit = fusion._attend_fused
    return model.eval()


def timed(call, rounds: int) -> float:
    samples = []
    for _ in range(rounds):
        start = time.perf_counter()
        call()
        samples.append(time.perf_counter() - start)
    return 1000 * statistics.median(samples)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--batch", type=int, default=8)
    args = parser.parse_args()
    model, _ = random_mivolo(224, with_persons=True, seed=3)
    variants = {
        "original (timm's Outlooker + explicit softmax)": variant(model, True, False),
        "project (F.fold + explicit softmax on a CPU)": variant(model, False, False),
        "F.fold + SDPA (SDPA as on a GPU)": variant(model, False, True),
        "fold_patches + SDPA (the exports' path)": variant(model, False, True, fold_with_patches=True),
    }
    x = torch.randn(args.batch, 6, 224, 224, generator=torch.Generator().manual_seed(0))
    outlook_x = torch.randn(args.batch, 28, 28, 192, generator=torch.Generator().manual_seed(1))
    fusion_x = torch.randn(args.batch, 384, 28, 28, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        reference = variants["original (timm's Outlooker + explicit softmax)"](x)
        print(f"load {os.getloadavg()[0]:.2f} at start; batch {args.batch} at 224, median of {args.rounds} rounds")
        print("| threads | variant | forward ms | 4 Outlooker attentions ms | fusion block ms | max |out - original| |")
        print("|---|---|---|---|---|---|")
        for threads in args.threads:
            torch.set_num_threads(threads)
            for name, net in variants.items():
                net(x)  # warm-up
            results = {name: {"forward": [], "outlook": [], "fusion": []} for name in variants}
            for _ in range(args.rounds):
                for name, net in variants.items():
                    outlookers = [b.attn for b in net.modules() if isinstance(b, Outlooker)]
                    results[name]["forward"].append(timed(lambda: net(x), 1))
                    results[name]["outlook"].append(timed(lambda: [a(outlook_x) for a in outlookers], 1))
                    results[name]["fusion"].append(timed(lambda: net.patch_embed.map(fusion_x), 1))
            for name, net in variants.items():
                diff = float((net(x) - reference).abs().max())
                row = results[name]
                print(
                    f"| {threads} | {name} | {statistics.median(row['forward']):.0f} | {statistics.median(row['outlook']):.1f} "
                    f"| {statistics.median(row['fusion']):.1f} | {diff:.2e} |"
                )
        print(f"load {os.getloadavg()[0]:.2f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
