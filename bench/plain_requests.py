"""The plain-request test bank (``data/benchmarks/plain_requests.json``: explicit requests,
situations and edits typed as people type them, held out from every training phrasing) through
the chat of a ChatPose checkpoint, beside the label look-up and the mean pose: the share of
answers with the asked geometry, per kind, with paired-bootstrap 95 % intervals.

    python bench/plain_requests.py [--checkpoint DIR] [--dtype float32] [--out data/experiments/plain_requests]

The label look-up answers from the canonical poses of the default dataset's training split (as
the evaluated checkpoint was trained) and, as ``label-nearest-all``, from every canonical pose.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", default=None, help="ChatPose checkpoint folder (default: the shipped one)")
    parser.add_argument("--decoder", default=None,
                        help="a `posekit train-decoder` file: attached to the shipped checkpoint's language parts")
    parser.add_argument("--name", default="chatpose", help="the checkpoint's name in the tables")
    parser.add_argument("--dtype", default="float32", help="float32 (the goals' precision) or float16 (the chat's)")
    parser.add_argument("--limit", type=int, default=None, help="every n-th request only, for a quick look")
    parser.add_argument("--out", default=None, help="folder for the per-request CSVs and the summary")
    parser.add_argument("--baselines-only", action="store_true")
    args = parser.parse_args()

    import pandas as pd

    from posekit.body.model import load_body_model
    from posekit.chat import ChatSession
    from posekit.corpus.library import canonical_poses
    from posekit.corpus.splits import load_canonical, split_canonical
    from posekit.evaluation.request_bank import bank_summary, chat_answers, load_request_bank, score_answers, start_joints
    from posekit.models.baselines import LabelNearest
    from posekit.body.rotations import mean_rotation, rotmat_to_rotvec, rotvec_to_rotmat

    bank = load_request_bank()
    if args.limit:
        bank = bank[::max(1, len(bank) // args.limit)]
    body = load_body_model()
    canonical = canonical_poses()

    def joints_of(poses: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return body(poses[:, 0], poses[:, 1:], joints_only=True).joints  # (N, 24, 3)

    starts = start_joints(bank, body)
    split = split_canonical(load_canonical())
    train_poses = [n for n, s in split.items() if s == "train"]
    texts = [r.text for r in bank]
    tables = {}
    tables["label-nearest"] = score_answers(bank, joints_of(LabelNearest().fit_poses(train_poses).answer(texts)), starts)
    tables["label-nearest-all"] = score_answers(bank, joints_of(LabelNearest().fit_poses().answer(texts)), starts)
    mean = rotmat_to_rotvec(mean_rotation(rotvec_to_rotmat(torch.stack([canonical[n] for n in train_poses]))))
    tables["mean"] = score_answers(bank, joints_of(mean.expand(len(bank), -1, -1)), starts)  # the training poses' mean
    if not args.baselines_only:
        checkpoint = args.checkpoint
        if args.decoder:
            import tempfile

            from posekit.models.chatpose import attach_to_chatpose, default_checkpoint_dir, load_decoder

            checkpoint = Path(tempfile.mkdtemp()) / "chatpose"
            attach_to_chatpose(load_decoder(args.decoder), args.checkpoint or default_checkpoint_dir(), checkpoint)
        session = ChatSession(checkpoint=checkpoint, dtype=args.dtype, body=body)
        tables[args.name], seconds = chat_answers(session, bank, progress=True)
        print(f"chat latency: median {sorted(seconds)[len(seconds) // 2]:.2f} s, max {max(seconds):.2f} s")
    summary = bank_summary(tables, reference="label-nearest")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            table.to_csv(out / f"{name}.csv", index=False)
        summary.to_csv(out / "summary.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
