"""Two or more trained decoders (decoder files or ChatPose folders with a decoder head) on the
same test records: each one's MPJPE / PA-MPJPE / posecode F1 / spread, and every pair's
difference (and each one's against the mean pose) with its paired-bootstrap 95 % interval,
per subset (spg: unseen description / unseen pose; rpe: query kind).

    python bench/paired_decoders.py --tasks rpe,image2pose data/checkpoints/chatpose runs/r0/decoder.pt
"""
from __future__ import annotations

import argparse

import pandas as pd


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decoders", nargs="+", help="decoder files or ChatPose folders; the first is the reference")
    parser.add_argument("--tasks", default="text2pose,spg,edit,image2pose,rpe")
    parser.add_argument("--dataset", default="default")
    parser.add_argument("--out", default=None, help="also write every difference to this CSV file")
    args = parser.parse_args()

    from posekit.evaluation.benchmark import EVAL_TASKS, compare, evaluate_model

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(EVAL_TASKS))
    if unknown or not tasks:
        raise SystemExit(f"--tasks must name some of {', '.join(EVAL_TASKS)}; got {args.tasks!r}")
    names = {f"m{i}": path for i, path in enumerate(args.decoders)}
    for key, path in names.items():
        print(f"{key}: {path}")
    frames = []
    for task in tasks:
        results = {key: evaluate_model("decoder", task, dataset=args.dataset, checkpoint=path, write_csv=False)
                   for key, path in names.items()}
        results["mean"] = evaluate_model("mean", task, dataset=args.dataset, write_csv=False)
        for key, result in results.items():
            row = result.summary.iloc[0]
            print(f"{task} {key}: {row['MPJPE']:.1f} / {row['PA-MPJPE']:.1f} / {row['posecode_F1']:.1f} / "
                  f"{row['spread']:.1f}")
        keys = list(names)
        for i, reference in enumerate([*keys, "mean"]):
            table = compare(results, reference)
            later = keys[i + 1:] if reference != "mean" else keys  # each pair once; everyone against the mean
            frames.append(table[table["model"].isin(later)].assign(task=task))
    table = pd.concat(frames, ignore_index=True)
    columns = ["task", "model", "reference", "subset", "metric", "difference", "ci_low", "ci_high", "verdict"]
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(table[columns].round(2).to_string(index=False))
    if args.out:
        table.to_csv(args.out, index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
