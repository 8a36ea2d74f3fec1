"""Wall time to build a task dataset from scratch on this machine.

Usage: python bench/bench_data.py [--quick] [--scale 1.0]
Builds into a temporary folder (nothing is kept) and prints the per-task counts and seconds.
"""
from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time

from posekit.datasets import DatasetConfig, build_dataset


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--scale", type=float, default=None)
    args = parser.parse_args()
    config = DatasetConfig.quick() if args.quick else DatasetConfig()
    if args.scale is not None:
        config = dataclasses.replace(config, scale=args.scale)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        manifest = build_dataset(config, out_dir=tmp, progress=False)
        seconds = time.perf_counter() - start
    print(f"dataset {config.name!r} (scale {config.scale}): {seconds:.1f} s wall, {manifest['corpus']['poses']} corpus poses")
    for task, counts in manifest["counts"].items():
        print(f"  {task:<11} {sum(counts.values()):>6} records  ({counts})")


if __name__ == "__main__":
    main()
