"""How much of an spg answer a sentence embedding finds: the soft nearest-neighbour answer
(``posekit.models.baselines.SoftNearest``: MiniLM similarity of the description to every spg training
description, a softmax at temperature t over the k nearest, the chordal mean of their targets)
for a grid of k and t, scored against the mean pose per test kind.
The grid is scored on the split you name: pick k and t on ``val`` before reading ``test``.

    python bench/spg_soft_nearest.py --split test --grid 1:1,20:0.05,200:0.1,1032:0.2
"""
from __future__ import annotations

import argparse

import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--split", default="val", choices=["test", "val"])
    parser.add_argument("--grid", default="1:1,20:0.05,200:0.1,1032:0.2", help="k:temperature pairs")
    parser.add_argument("--dataset", default="default")
    args = parser.parse_args()

    from posekit.datasets import dataset_dir, load_records
    from posekit.evaluation.benchmark import compare, evaluate
    from posekit.models.baselines import MeanPose, SoftNearest

    root = dataset_dir(args.dataset)
    train, held = load_records("spg", "train", root=root), load_records("spg", args.split, root=root)
    nearest = SoftNearest().fit(train)  # encodes the training descriptions once; each grid point reuses them

    results = {"mean": evaluate(MeanPose().fit(train), "spg", held, root, retrieval=None, model_name="mean")}
    for pair in args.grid.split(","):
        k, t = pair.split(":")
        nearest.k, nearest.temperature = int(k), float(t)
        name = f"k={k} t={float(t):g}"
        results[name] = evaluate(nearest, "spg", held, root, retrieval=None, model_name=name)
    table = compare(results, "mean")
    columns = ["model", "subset", "metric", "model_value", "reference_value", "difference", "ci_low", "ci_high"]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table[table["metric"] == "PA-MPJPE"][columns].round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
