"""Pick a retrieval decoder's margin (:attr:`PoseDecoderConfig.recall_margin`: how much more a
recalled pose must score than the decoder's own answer) on validation requests: the dataset's
text2pose and spg validation splits (captions and situations of unseen poses) and the held-out
fifth of the training poses' plain requests and situations (unseen wording of known poses).
Prints each part's PA-MPJPE per margin and the margin with the lowest mean over the parts.

    python bench/recall_margin.py runs/m2/decoder.pt [--margins 0,0.5,1,2,3,5]
"""
from __future__ import annotations

import argparse
import dataclasses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decoder", help="a decoder file or a ChatPose folder with a retrieval decoder head")
    parser.add_argument("--margins", default="0,0.5,1,2,3,5")
    parser.add_argument("--dataset", default="default")
    args = parser.parse_args()

    import pandas as pd
    import torch

    from posekit.body.model import load_body_model
    from posekit.corpus.library import canonical_poses
    from posekit.datasets import dataset_dir, load_records
    from posekit.datasets.plain import plain_records, source_pools
    from posekit.evaluation.metrics import pa_mpjpe
    from posekit.models.chatpose import load_decoder

    model = load_decoder(args.decoder)
    root = dataset_dir(args.dataset)
    covered = model.decoder.config.recall_poses
    train = load_records("text2pose", "train", root=root)
    canonical = canonical_poses()
    names = sorted({r.meta.get("source") for r in train} & set(canonical)) if covered < len(canonical) else sorted(canonical)
    held = plain_records(source_pools(train, {n: canonical[n] for n in names}), "val", targets=1, seed=5, part="held")
    parts = {"text2pose val": load_records("text2pose", "val", root=root),
             "spg val": load_records("spg", "val", root=root), "plain held-out wording": held}
    body = load_body_model()
    rows = []
    for margin in [float(m) for m in args.margins.split(",")]:
        model.decoder.config = dataclasses.replace(model.decoder.config, recall_margin=margin)
        row = {"margin": margin}
        for name, records in parts.items():
            pred = model.predict(records)
            target = torch.stack([r.targets()[0] for r in records])
            with torch.no_grad():
                pj = body(pred[:, 0], pred[:, 1:], joints_only=True).joints
                tj = body(target[:, 0], target[:, 1:], joints_only=True).joints
            row[name] = round(float(pa_mpjpe(pj, tj).mean()), 1)
        rows.append(row)
        print(row, flush=True)
    table = pd.DataFrame(rows)
    table["mean"] = table[list(parts)].mean(1).round(1)
    print(table.to_string(index=False))
    print(f"lowest mean: margin {table.loc[table['mean'].idxmin(), 'margin']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
