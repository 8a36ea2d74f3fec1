"""Where does rpe lose the request? For a decoder trained with a grounding map
(``posekit train-decoder --grounding-weight W``), how often the map's most likely image cell
lies on the asked-for person, on another person, or on nobody, per rpe query kind (and on
image2pose, where there is one person to find).

    python bench/rpe_grounding.py runs/probe/g01/decoder.pt [--split test]
"""
from __future__ import annotations

import argparse
import math
from collections import defaultdict

import torch


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("decoder", help="a decoder file written by `posekit train-decoder --grounding-weight W`")
    parser.add_argument("--split", default="test", choices=["test", "val"])
    parser.add_argument("--dataset", default="default")
    args = parser.parse_args()

    from posekit.datasets import dataset_dir, load_records
    from posekit.encoders.state_cache import request_states
    from posekit.models.decoder import (
        StatePoseModel,
        aligned_image_tokens,
        grounding_target,
        image_side,
        target_keypoints,
    )

    model = StatePoseModel.load(args.decoder)
    if not model.decoder.config.grounding:
        raise SystemExit(f"{args.decoder} has no grounding map: train one with `posekit train-decoder --grounding-weight 0.1`")
    root = dataset_dir(args.dataset)
    tokens = model.decoder.config.image_tokens
    for task in ("image2pose", "rpe"):
        records = load_records(task, args.split, root=root)
        states = request_states(records, model.layer, model.backbone)
        images = aligned_image_tokens(records, root, vision=model.vision)
        text, mask = states.padded(range(len(records)))
        with torch.no_grad():
            _, _, grounding = model.decoder.memory(text, mask, image=images, return_grounding=True)  # (N, 49)
        size = image_side(records, root)
        goal = grounding_target(torch.stack([target_keypoints(r) for r in records]), size, tokens)
        top = grounding.argmax(1)
        on_target = goal[torch.arange(len(records)), top] > 0
        print(f"{task} ({len(records)}): cross-entropy {float(-(goal * grounding).sum(1).mean()):.2f} "
              f"(a uniform map: {math.log(tokens):.2f}); the most likely cell is on the asked-for person in "
              f"{float(on_target.float().mean()):.1%}")
        if task != "rpe":
            continue
        on_other, kinds = [], defaultdict(list)
        for record, cell, hit in zip(records, top.tolist(), on_target.tolist()):
            others = [torch.tensor(p["joints_2d"]) for k, p in enumerate(record.meta["people"])
                      if k != record.meta["target_index"]]
            other = bool(others) and bool((grounding_target(torch.stack(others), size, tokens)[:, cell] > 0).any())
            on_other.append(other and not hit)
            kinds[record.meta["query_kind"]].append(hit)
        people = sum(len(r.meta["people"]) for r in records) / len(records)
        print(f"  on another person: {sum(on_other) / len(records):.1%} (people per scene: {people:.1f}, so a "
              f"random person is the right one about {sum(1 / len(r.meta['people']) for r in records) / len(records):.0%} "
              "of the time)")
        print("  on the asked-for person, by query kind: "
              + ", ".join(f"{kind} {sum(v) / len(v):.0%} of {len(v)}" for kind, v in sorted(kinds.items())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
