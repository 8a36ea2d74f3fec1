"""Is a decoder over-confident? Its answers shrunk toward the mean pose by factors a (each joint's
rotation relative to the mean pose's, scaled: a = 1 is the decoder's answer, 0 the mean pose),
each scored against the mean pose with paired-bootstrap 95 % intervals, per subset. A best a
below 1 says the answers point the right way but go too far (design L's probe).

    python bench/shrink_answers.py data/experiments/decoder_designs/K_candidate/decoder.pt --tasks spg,rpe
"""
from __future__ import annotations

import argparse

import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decoder", help="a decoder file or a ChatPose folder with a decoder head")
    parser.add_argument("--tasks", default="text2pose,spg,image2pose,rpe,edit")
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument("--factors", default="1,0.9,0.8,0.6,0.5,0.4")
    parser.add_argument("--dataset", default="default")
    args = parser.parse_args()

    import roma

    from posekit.body.rotations import rotvec_to_rotmat
    from posekit.datasets import dataset_dir, load_records
    from posekit.evaluation.benchmark import compare, evaluate, evaluate_model
    from posekit.models.baselines import MeanPose

    root = dataset_dir(args.dataset)
    frames = []
    for task in [t.strip() for t in args.tasks.split(",") if t.strip()]:
        records = [r for r in load_records(task, args.split, root=root) if r.target_poses]
        answers = evaluate_model("decoder", task, dataset=args.dataset, split=args.split, checkpoint=args.decoder,
                                 write_csv=False, retrieval=None).predictions  # (N, 24, 3)
        mean = MeanPose().fit(load_records(task, "train", root=root))
        mean_rot = rotvec_to_rotmat(mean.pose)  # (24, 3, 3)
        offset = roma.rotmat_to_rotvec(mean_rot.transpose(-1, -2) @ rotvec_to_rotmat(answers))  # (N, 24, 3)

        class Shrunk:
            def __init__(self, factor: float):
                self.factor, self.name = factor, f"a={factor:g}"

            def predict(self, batch, root=None):
                return roma.rotmat_to_rotvec(mean_rot @ roma.rotvec_to_rotmat(self.factor * offset))

        results = {"mean": evaluate(mean, task, records, root, retrieval=None, model_name="mean")}
        for factor in (float(f) for f in args.factors.split(",")):
            model = Shrunk(factor)
            results[model.name] = evaluate(model, task, records, root, retrieval=None, model_name=model.name)
            print(f"{task} {model.name}: PA-MPJPE {results[model.name].summary['PA-MPJPE'].iloc[0]:.1f}, "
                  f"F1 {results[model.name].summary['posecode_F1'].iloc[0]:.1f}, "
                  f"spread {results[model.name].summary['spread'].iloc[0]:.1f}")
        frames.append(compare(results, "mean").assign(task=task))
    table = pd.concat(frames, ignore_index=True)
    columns = ["task", "model", "subset", "metric", "model_value", "reference_value", "difference", "ci_low", "ci_high"]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table[columns].round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
