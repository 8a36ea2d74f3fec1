"""Body forward throughput on this machine: full mesh and joints-only FK.

Usage: python bench/bench_body.py [--repeats 5] [--threads N]
Targets on 2 CPU cores: joints-only >= 50,000 poses/s at batch 1024; full mesh >= 1,000
bodies/s at batch 256.
"""
from __future__ import annotations

import argparse
import time

import torch

from posekit.body.model import load_body_model


def throughput(model, batch: int, joints_only: bool, repeats: int) -> float:
    gen = torch.Generator().manual_seed(0)
    body_pose = torch.randn(batch, 23, 3, generator=gen) * 0.3
    global_orient = torch.randn(batch, 3, generator=gen)
    betas = torch.randn(batch, 10, generator=gen)
    with torch.inference_mode():
        model(global_orient, body_pose, betas, joints_only=joints_only)  # warm-up
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            model(global_orient, body_pose, betas, joints_only=joints_only)
            best = min(best, time.perf_counter() - t0)
    return batch / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    model = load_body_model()
    print(f"{model}\ntorch threads: {torch.get_num_threads()}")
    print(f"{'path':<12}{'batch':>7}{'bodies/s':>14}")
    for joints_only, batches in ((True, (1, 64, 1024)), (False, (1, 64, 256, 1024))):
        for batch in batches:
            rate = throughput(model, batch, joints_only, args.repeats)
            print(f"{'joints-only' if joints_only else 'full mesh':<12}{batch:>7}{rate:>14,.0f}")


if __name__ == "__main__":
    main()
