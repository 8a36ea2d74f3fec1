"""The part composer on the test splits worded like the training data: the evaluated ChatPose
checkpoint with and without its part composer on text2pose, spg and edit, PA-MPJPE (mm) and
posecode F1 (%), with the paired-bootstrap 95 % interval of the difference.

    python bench/composer_test_splits.py [--dataset evaluation] [--limit N] [--out data/experiments/composition_requests]

``--dataset evaluation`` is ``DatasetConfig.evaluation()`` (the default dataset's text, spg and edit
records exactly; built in about a minute); the default dataset gives the same records.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="evaluation", help="dataset name (data/generated/<name>)")
    parser.add_argument("--checkpoint", default=None, help="ChatPose folder (default: the evaluated checkpoint)")
    parser.add_argument("--limit", type=int, default=None, help="records per task, spread over the split")
    parser.add_argument("--out", default=None, help="folder for results.json")
    args = parser.parse_args()

    from posekit.body.model import load_body_model
    from posekit.datasets import dataset_dir, ensure_dataset, load_records
    from posekit.datasets.config import DatasetConfig
    from posekit.evaluation.benchmark import evaluate, evenly
    from posekit.evaluation.metrics import paired_bootstrap
    from posekit.models.chatpose import default_checkpoint_dir, load_chatpose

    if args.dataset == "evaluation":
        ensure_dataset(DatasetConfig.evaluation())
    root = dataset_dir(args.dataset)
    body = load_body_model()
    print(f"ChatPose checkpoint: {default_checkpoint_dir(args.checkpoint)}")
    model = load_chatpose(args.checkpoint)
    composer = model.part_composer
    if composer is None:
        raise SystemExit(f"{default_checkpoint_dir(args.checkpoint)} has no part composer: posekit train-composer")
    out = {}
    for task in ("text2pose", "spg", "edit"):
        records = evenly(load_records(task, "test", root=root), args.limit)
        scores = {}
        for name, part in (("with", composer), ("without", None)):
            model.set_part_composer(part)
            scores[name] = evaluate(model, task, records, root, body=body, model_name=f"chatpose {name}").per_sample
        row = {"records": len(records)}
        for metric in ("PA-MPJPE", "posecode_F1"):
            diff = paired_bootstrap(scores["with"][metric].to_numpy(), scores["without"][metric].to_numpy())
            row[metric] = {"with": round(float(scores["with"][metric].mean()), 1),
                           "without": round(float(scores["without"][metric].mean()), 1),
                           "difference": [round(diff.mean, 1), round(diff.low, 1), round(diff.high, 1)]}
        out[task] = row
        print(task, json.dumps(row))
        if args.out:
            Path(args.out).mkdir(parents=True, exist_ok=True)
            for name, table in scores.items():
                table.to_csv(Path(args.out) / f"{task}_chatpose_{name}_composer.csv", index=False)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        (Path(args.out) / "test_splits.json").write_text(json.dumps(out, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
