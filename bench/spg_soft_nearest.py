"""How much of an spg answer a sentence embedding finds: a soft nearest-neighbour answer (MiniLM
similarity of the description to every spg training description, a softmax at temperature t over
the k nearest, the chordal mean of their targets), scored against the mean pose per test kind.
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

    import roma
    import torch

    from posekit.baselines import MeanPose, query_text
    from posekit.datasets import dataset_dir, load_records
    from posekit.evaluate import compare, evaluate
    from posekit.rotations import rotvec_to_rotmat
    from posekit.text_encoder import get_text_encoder

    root = dataset_dir(args.dataset)
    train, held = load_records("spg", "train", root=root), load_records("spg", args.split, root=root)
    encoder = get_text_encoder()
    keys = encoder.encode([query_text(r) for r in train])  # (N, 384) unit vectors
    targets = rotvec_to_rotmat(torch.stack([r.targets()[0] for r in train]))  # (N, 24, 3, 3)

    class SoftNearest:
        def __init__(self, k: int, temperature: float):
            self.k, self.temperature, self.name = min(k, len(train)), temperature, f"k={k} t={temperature:g}"

        def predict(self, records, root=None):
            top = (encoder.encode([query_text(r) for r in records]) @ keys.T).topk(self.k, dim=1)
            weights = torch.softmax(top.values / self.temperature, 1)  # (M, k)
            blend = torch.einsum("mk,mkjab->mjab", weights, targets[top.indices])  # (M, 24, 3, 3)
            return roma.rotmat_to_rotvec(roma.special_procrustes(blend))

    results = {"mean": evaluate(MeanPose().fit(train), "spg", held, root, retrieval=None, model_name="mean")}
    for pair in args.grid.split(","):
        k, t = pair.split(":")
        model = SoftNearest(int(k), float(t))
        results[model.name] = evaluate(model, "spg", held, root, retrieval=None, model_name=model.name)
    table = compare(results, "mean")
    columns = ["model", "subset", "metric", "model_value", "reference_value", "difference", "ci_low", "ci_high"]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table[table["metric"] == "PA-MPJPE"][columns].round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
