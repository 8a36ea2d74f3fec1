"""ChatPose on this machine: training throughput, chat latency and generation speed.

Usage: python bench/bench_chatpose.py [--train-steps 5] [--requests 12] [--checkpoint DIR] [--dtypes float32,float16]
Targets on 2 CPU cores with the shipped default model: median text2pose request -> posed body
<= 1.5 s; generation >= 20 tokens/s. Each inference dtype is measured (the chat uses float16 by
default); training throughput is reported (samples/s, tokens/s).
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from posekit.body.model import load_body_model
from posekit.datasets import DatasetConfig, ensure_dataset, load_records
from posekit.datasets.records import Record
from posekit.models.baselines import query_text
from posekit.models.chatpose import load_chatpose
from posekit.models.chatpose.training import TrainConfig, train


def _request(text: str) -> Record:
    return Record(id="bench", task="text2pose", split="test", messages=[{"role": "user", "content": text}])


def bench_training(steps: int) -> None:
    ensure_dataset(DatasetConfig())
    with tempfile.TemporaryDirectory() as out:
        log = train(TrainConfig(steps=steps + 1, log_every=1, checkpoint_every=10**9, warmup_steps=1), out_dir=out,
                    resume=False, progress=False).log.iloc[1:]  # the first step warms up
    print(f"training, batch 8, mixed tasks: {log['samples_per_s'].mean():.2f} samples/s, "
          f"{log['tokens_per_s'].mean():.0f} tokens/s ({len(log)} steps)")


def bench_chat(checkpoint: str | None, requests: int, dtype: str, repeats: int = 3) -> None:
    print(f"--- inference in {dtype}")
    model, body = load_chatpose(checkpoint, dtype=dtype), load_body_model()
    texts = [query_text(r) for r in load_records("text2pose", "test")[:requests]]
    model.generate([_request(texts[0])])  # warm-up
    latencies, missing = [], 0
    for text in texts:
        start = time.perf_counter()
        answer = model.generate([_request(text)], max_new_tokens=32)[0]
        if len(answer.poses):
            body(answer.poses[:1, 0], answer.poses[:1, 1:])  # the posed mesh, as the chat shows it
        else:
            missing += 1
        latencies.append(time.perf_counter() - start)
    print(f"text2pose request -> posed body: median {statistics.median(latencies):.2f} s, "
          f"max {max(latencies):.2f} s over {len(texts)} requests ({missing} without a pose); target <= 1.5 s")
    prompt = Record(id="bench", task="pose2text", split="test", input_poses=[torch.zeros(24, 3).tolist()],
                    messages=[{"role": "user", "content": "<pose_in>\nDescribe this pose in detail."}])
    speeds = []
    for _ in range(repeats):
        start = time.perf_counter()
        answer = model.generate([prompt], max_new_tokens=96)[0]
        speeds.append(len(answer.token_ids) / (time.perf_counter() - start))
    print(f"generation: {len(answer.token_ids)} tokens, median {statistics.median(speeds):.1f} tokens/s over {repeats} runs "
          f"(min {min(speeds):.1f}, prompt included); target >= 20 tokens/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-steps", type=int, default=5, help="0 skips the training benchmark")
    parser.add_argument("--requests", type=int, default=12)
    parser.add_argument("--checkpoint", default=None, help="ChatPose checkpoint folder (default: the shipped one)")
    parser.add_argument("--dtypes", default="float32,float16", help="inference dtypes to measure, comma-separated")
    args = parser.parse_args()
    print(f"torch threads: {torch.get_num_threads()}")
    for dtype in args.dtypes.split(","):
        bench_chat(args.checkpoint, args.requests, dtype.strip())
    if args.train_steps:
        bench_training(args.train_steps)


if __name__ == "__main__":
    main()
