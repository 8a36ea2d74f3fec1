"""Captioner throughput on this machine for a batch of poses.

Usage: python bench/bench_captioner.py [--batch 10000]
Targets on 2 CPU cores: >= 20,000 poses/s for deterministic posecodes, >= 2,000 captions/s
for text (posecodes included), measured on 10,000 poses.
"""
from __future__ import annotations

import argparse
import time

import torch

from posekit.body.model import load_body_model
from posekit.language.captioner import Captioner
from posekit.language.paircodes import instruct
from posekit.language.posecodes import POSECODES, compute_posecodes


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=10_000)
    args = parser.parse_args()
    body = load_body_model()
    gen = torch.Generator().manual_seed(0)
    n = args.batch
    out = body(global_orient=torch.randn(n, 3, generator=gen) * 0.3,
               body_pose=torch.randn(n, 23, 3, generator=gen) * 0.35, joints_only=True)
    other = body(body_pose=torch.randn(n, 23, 3, generator=gen) * 0.35, joints_only=True)
    captioner = Captioner()
    compute_posecodes(out.joints[:10], out.rotmats[:10])  # warm-up
    rows = [
        ("posecodes (deterministic)", timed(lambda: compute_posecodes(out.joints, out.rotmats))),
        ("posecodes (random offsets)", timed(lambda: compute_posecodes(out.joints, out.rotmats, generator=torch.Generator().manual_seed(1)))),
        ("captions (deterministic)", timed(lambda: captioner(out.joints, out.rotmats, seed=None))),
        ("captions (seeded)", timed(lambda: captioner(out.joints, out.rotmats, seed=0))),
        ("pair instructions", timed(lambda: instruct(out.joints, other.joints, out.rotmats, other.rotmats, seed=0))),
    ]
    codes = len(POSECODES)
    print(f"torch threads: {torch.get_num_threads()}, batch {n}, {codes} posecodes per pose (the full set)")
    print(f"{'step':<28}{'seconds':>9}{'poses/s':>12}{'posecodes/s':>14}")
    for name, seconds in rows:
        per_pose = f"{n * codes / seconds:>14,.0f}" if name.startswith("posecodes") else f"{'':>14}"
        print(f"{name:<28}{seconds:>9.2f}{n / seconds:>12,.0f}{per_pose}")


if __name__ == "__main__":
    main()
