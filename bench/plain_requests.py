"""A held-out request bank through the chat of a ChatPose checkpoint, beside the trivial look-ups
that read every label the model's memory reads: the share of answers with the asked geometry, per
kind, with paired-bootstrap 95 % intervals.

    python bench/plain_requests.py [--bank plain|composition] [--checkpoint DIR] [--dtype float32] [--out FOLDER]
                                   [--unasked decoder|rest]

The banks: ``plain`` (``data/benchmarks/plain_requests.json``: explicit requests, situations,
edits of a canonical pose) and ``composition`` (``data/benchmarks/composition_requests.json``:
two parts in one request, fine control, negation, three-turn chained edits).
The baselines (``posekit.models.baselines``): ``label-nearest`` (the nearest label's canonical
pose: names, who phrases, situations and plain requests) and ``part-nearest`` (the request cut
into clauses, each clause's nearest pose put on the body parts it names; an edit starts from the
given pose), over the canonical poses of the default dataset's training split (as the evaluated
checkpoint was trained) and, with ``-all``, over every canonical pose (as the release checkpoint
was trained); and the training poses' mean pose.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bank", choices=("plain", "composition"), default="plain", help="which request bank")
    parser.add_argument("--checkpoint", default=None,
                        help="ChatPose checkpoint folder (default: the evaluated checkpoint, data/checkpoints/chatpose)")
    parser.add_argument("--decoder", default=None,
                        help="a `posekit train-decoder` file: attached to the checkpoint's language parts")
    parser.add_argument("--name", default="chatpose", help="the checkpoint's name in the tables")
    parser.add_argument("--dtype", default="float32", help="float32 (the goals' precision) or float16 (the chat's)")
    parser.add_argument("--limit", type=int, default=None, help="about this many requests, evenly spread (not for chains)")
    parser.add_argument("--out", default=None, help="folder for the per-request CSVs and the summary")
    parser.add_argument("--baselines-only", action="store_true")
    parser.add_argument("--unasked", choices=("decoder", "rest"), default=None,
                        help="where the part composer takes the joints no clause sets (default: the checkpoint's "
                             "composer setting; design Q3 in docs/model-design.md)")
    args = parser.parse_args()

    import pandas as pd

    from posekit.body.model import load_body_model
    from posekit.body.rotations import mean_rotation, rotmat_to_rotvec, rotvec_to_rotmat
    from posekit.corpus.library import canonical_poses
    from posekit.corpus.splits import load_canonical, split_canonical
    from posekit.evaluation.request_bank import (answer_bank, bank_summary, chat_answers, load_composition_bank,
                                                 load_request_bank)
    from posekit.models.baselines import LabelNearest, PartNearest

    bank = load_request_bank() if args.bank == "plain" else load_composition_bank()
    if args.limit:
        bank = [r for r in bank[::max(1, len(bank) // args.limit)] if r.turn == 0 and r.kind != "chained"] \
            if args.bank == "composition" else bank[::max(1, len(bank) // args.limit)]
    body = load_body_model()
    canonical = canonical_poses()
    split = split_canonical(load_canonical())
    train_poses = [n for n, s in split.items() if s == "train"]
    print(f"{args.bank} bank: {len(bank)} requests")

    def look_up(model):
        def answer(text, start, new_conversation):
            if isinstance(model, PartNearest):
                return model.compose([text], [start])[0]
            return model.answer([text])[0]
        return answer

    tables = {}
    for name, model in (("label-nearest", LabelNearest().fit_poses(train_poses)),
                        ("part-nearest", PartNearest().fit_poses(train_poses)),
                        ("label-nearest-all", LabelNearest().fit_poses()),
                        ("part-nearest-all", PartNearest().fit_poses())):
        tables[name], _ = answer_bank(bank, look_up(model), body)
    mean = rotmat_to_rotvec(mean_rotation(rotvec_to_rotmat(torch.stack([canonical[n] for n in train_poses]))))
    tables["mean"], _ = answer_bank(bank, lambda text, start, new: mean, body)  # the training poses' mean
    if not args.baselines_only:
        from posekit.chat import ChatSession
        from posekit.models.chatpose import default_checkpoint_dir

        checkpoint = args.checkpoint or default_checkpoint_dir()
        if args.decoder:
            import tempfile

            from posekit.models.chatpose import attach_to_chatpose, load_decoder

            attached = Path(tempfile.mkdtemp()) / "chatpose"
            attach_to_chatpose(load_decoder(args.decoder), checkpoint, attached)
            checkpoint = attached
        print(f"checkpoint: {checkpoint}")
        session = ChatSession(checkpoint=checkpoint, dtype=args.dtype, body=body)
        if args.unasked and session.model.part_composer is not None:
            import dataclasses

            composer = session.model.part_composer
            composer.config = dataclasses.replace(composer.config, unasked=args.unasked)
        tables[args.name], seconds = chat_answers(session, bank, progress=True)
        print(f"chat latency: median {sorted(seconds)[len(seconds) // 2]:.2f} s, max {max(seconds):.2f} s")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        for reference in ("label-nearest", "part-nearest", "label-nearest-all", "part-nearest-all"):
            print(f"\nagainst {reference}:")
            print(bank_summary(tables, reference=reference).to_string(index=False))
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        for name, table in tables.items():
            table.to_csv(out / f"{name}.csv", index=False)
        for reference in ("label-nearest", "part-nearest", "label-nearest-all", "part-nearest-all"):
            bank_summary(tables, reference=reference).to_csv(out / f"summary_vs_{reference}.csv", index=False)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
