"""What the chat says about a given pose, on held-out test poses: its descriptions (the chat's
tool: the captioner's facts, :mod:`posekit.chat.tools`) ranked by the retrieval model against the
other poses (pose2text R@K, mRecall; the ChatPose LLM's own descriptions and one fixed sentence
beside them), and its yes/no answers checked against independent geometry (the joint checks of
:mod:`posekit.evaluation.requests`, not the posecodes the answers come from). Each description
is checked for repeated sentences and self-contradictions.

    python bench/chat_descriptions.py [--limit 128] [--out data/experiments/chat_descriptions]
"""
from __future__ import annotations

import argparse
from pathlib import Path

import torch


QUESTIONS = {  # question -> the independent geometric check of its truth
    "Is the left hand above the head?": "left_hand_up",
    "Is the right hand above the head?": "right_hand_up",
    "Is the left knee touching the ground?": "left_knee_down",
    "Is the right knee touching the ground?": "right_knee_down",
    "Is the person lying on their back?": "on_the_back",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="default")
    parser.add_argument("--limit", type=int, default=128, help="test poses (spread evenly)")
    parser.add_argument("--out", default=None)
    args = parser.parse_args()

    import pandas as pd

    from posekit.chat import ChatSession
    from posekit.datasets import dataset_dir, load_records
    from posekit.evaluation.benchmark import evaluate_descriptions, evenly
    from posekit.evaluation.requests import passes
    from posekit.language.consistency import contradictions, repeated_sentences
    from posekit.evaluation.retrieval import load_retrieval

    records = evenly(load_records("pose2text", "test", root=dataset_dir(args.dataset)), args.limit)
    session = ChatSession()
    texts, repeats, contradicted = [], 0, 0
    asked, right = 0, 0
    for r in records:
        pose = r.inputs()[0]
        session.reset()
        reply = session.send("Describe this pose.", pose=pose)
        texts.append(reply.text)
        repeats += bool(repeated_sentences(reply.text))
        contradicted += bool(contradictions(reply.text))
        joints = session.body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
        for question, check in QUESTIONS.items():
            session.reset()
            answer = session.send(question, pose=pose).text
            asked += 1
            right += answer.startswith("Yes") == passes(check, joints)
    retrieval = load_retrieval()
    rows = [evaluate_descriptions(texts, records, retrieval, "chat (captioner tool)"),
            evaluate_descriptions(["A person is standing."] * len(records), records, retrieval, "one fixed sentence")]
    table = pd.concat(rows, ignore_index=True)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(table.to_string(index=False))
    print(f"descriptions with a repeated sentence: {repeats} of {len(records)}; with a self-contradiction: "
          f"{contradicted}")
    print(f"yes/no answers agreeing with the joint geometry: {right} of {asked} ({100 * right / asked:.1f} %)")
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        table.to_csv(out / "pose2text.csv", index=False)
        (out / "summary.txt").write_text(f"repeated: {repeats}/{len(records)}, contradictions: {contradicted}/{len(records)}, "
                                         f"yes/no agreeing with geometry: {right}/{asked}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
