"""Renderer throughput on this machine (224x224): one body and three bodies per image.

Usage: python bench/bench_render.py [--size 224] [--repeats 30]
Target on 2 CPU cores: >= 30 images/s for one body at 224x224.
"""
from __future__ import annotations

import argparse
import time

import torch

from posekit.body.model import load_body_model
from posekit.body.render import look_at, make_background, render
from posekit.corpus.library import library_params, load_pose_library


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    body = load_body_model()
    out = body(*library_params(["waving", "sitting on a chair", "running"], load_pose_library("canonical")))
    verts = [out.vertices[k] + torch.tensor([(k - 1) * 0.9, -float(out.vertices[k, :, 1].min()), -0.3 * k]) for k in range(3)]
    background = make_background("floor", args.size, args.size, torch.Generator().manual_seed(0))
    colors = [(0.8, 0.2, 0.2), (0.2, 0.5, 0.8), (0.3, 0.7, 0.3)]
    print(f"torch threads: {torch.get_num_threads()}, {args.size}x{args.size}, {body.faces.shape[0]} triangles per body")
    for count, camera in ((1, look_at([0, 0.85, 0], 2.6, fov_deg=45, width=args.size, height=args.size)),
                          (3, look_at([0, 0.85, 0], 3.2, azimuth_deg=20, fov_deg=50, width=args.size, height=args.size))):
        render(verts[:count], body.faces, camera, colors[:count], background=background)  # warm-up
        start = time.perf_counter()
        for _ in range(args.repeats):
            render(verts[:count], body.faces, camera, colors[:count], background=background)
        rate = args.repeats / (time.perf_counter() - start)
        print(f"{count} bod{'y' if count == 1 else 'ies'}: {rate:6.1f} images/s")


if __name__ == "__main__":
    main()
