"""Plain requests at scale: every distinct text2pose *test* pose asked for as an instruction
from standing ("Kneel down on both knees, then lean forward.", the wording people type, which
the captioner never writes), against the mean pose, with paired-bootstrap 95 % intervals.

The twelve hand-written requests of ``bench/plain_requests.py`` say whether the chat follows a
person; these ~640 held-out poses say by how much, with an interval.

    python bench/instruction_requests.py [--checkpoint CHATPOSE_DIR | --decoder FILE] [--seed 77]
"""
from __future__ import annotations

import argparse

import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="ChatPose checkpoint folder (default: the shipped one)")
    parser.add_argument("--decoder", default=None, help="a decoder file of `posekit train-decoder` instead")
    parser.add_argument("--seed", type=int, default=77, help="seed of the instruction wording")
    parser.add_argument("--dataset", default="default")
    args = parser.parse_args()

    from posekit.body.model import load_body_model
    from posekit.datasets import dataset_dir, load_records, recaptioned
    from posekit.evaluation.benchmark import compare, evaluate
    from posekit.models.baselines import MeanPose

    root = dataset_dir(args.dataset)
    body = load_body_model()
    test = recaptioned(load_records("text2pose", "test", root=root), 1, seed=args.seed, body=body, style="instruction")
    if args.decoder:
        from posekit.models.decoder import StatePoseModel

        model, name = StatePoseModel.load(args.decoder), "decoder"
    else:
        from posekit.models.chatpose import load_chatpose

        model, name = load_chatpose(args.checkpoint), "chatpose"
    results = {"mean": evaluate(MeanPose().fit(load_records("text2pose", "train", root=root)), "text2pose", test, root,
                                body=body, model_name="mean"),
               name: evaluate(model, "text2pose", test, root, body=body, model_name=name)}
    table = pd.concat([r.summary for r in results.values()])[["model", "MPJPE", "PA-MPJPE", "posecode_F1", "spread",
                                                              "samples"]]
    print(f"{len(test)} instruction requests of held-out text2pose poses, e.g. {test[0].messages[1]['content']!r}")
    print(table.round(1).to_string(index=False))
    versus = compare(results, "mean", by_subset=False)
    print(versus[["model", "metric", "difference", "ci_low", "ci_high", "verdict"]].round(1).to_string(index=False))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
