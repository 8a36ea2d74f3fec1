"""The recipe's stages on 1 and 2 processes of this machine (torchrun, gloo): the pose decoder's training
(examples/s), the request-state caching with SmolLM2-135M (tokens/s) and a LoRA step of the language
stage (tokens/s). Each measurement runs alone (never two jobs at once); with two processes torchrun gives
each one thread, one process gets all the cores.

    python bench/scaling.py [--out data/experiments/scaling]

Writes ``results.json``: per stage and process count, the rate and the seconds measured.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve()


def _decoder(requests: int, epochs: int) -> dict:
    """Train the shipped decoder architecture on random states shaped like SmolLM2's layer 8 (576 wide,
    40-90 tokens): examples/s of the epochs after the first."""
    from posekit import distributed
    from posekit.datasets.records import POSE_TOKEN, Record
    from posekit.encoders.state_cache import RequestStates
    from posekit.models.decoder import DecoderTrainConfig, PoseDecoderConfig, train_pose_decoder

    gen = torch.Generator().manual_seed(0)

    def part(n: int, seed: int):
        g = torch.Generator().manual_seed(seed)
        counts = torch.randint(40, 90, (n,), generator=g)
        states = RequestStates(torch.randn(int(counts.sum()), 576, generator=g).half(),
                               torch.cat([torch.zeros(1, dtype=torch.long), counts.cumsum(0)]), 8, "bench")
        records = [Record(id=f"r{i}", task="text2pose", split="train",
                          messages=[{"role": "user", "content": "x"}, {"role": "assistant", "content": POSE_TOKEN}],
                          target_poses=[(torch.randn(24, 3, generator=gen) * 0.2).tolist()]) for i in range(n)]
        return records, states
    train_records, train_states = part(requests, 0)
    val_records, val_states = part(requests // 8, 1)
    config = PoseDecoderConfig(state_dim=576)
    _, history = train_pose_decoder(train_records, train_states, val_records, val_states, config,
                                    DecoderTrainConfig(epochs=epochs, batch_size=64, patience=epochs), progress=False)
    seconds = sum(h["seconds"] for h in history[1:])
    return {"processes": distributed.num_processes(), "examples": requests * (epochs - 1), "seconds": round(seconds, 2),
            "rate": round(requests * (epochs - 1) / seconds, 1), "unit": "examples/s",
            "threads": torch.get_num_threads()}


def _states(dataset: str, requests: int) -> dict:
    """Cache the layer-8 states of ``requests`` text2pose requests of ``dataset`` (SmolLM2-135M), in a
    fresh cache folder: tokens/s."""
    from posekit import distributed
    from posekit.datasets import dataset_dir, load_records
    from posekit.encoders.llm import load_backbone
    from posekit.encoders.state_cache import request_states

    records = load_records("text2pose", "train", root=dataset_dir(dataset))[:requests]
    llm = load_backbone()
    distributed.barrier()
    start = time.perf_counter()
    states = request_states(records, 8, progress=False, model=llm)
    seconds = time.perf_counter() - start
    return {"processes": distributed.num_processes(), "tokens": int(states.offsets[-1]), "seconds": round(seconds, 2),
            "rate": round(int(states.offsets[-1]) / seconds, 1), "unit": "tokens/s", "threads": torch.get_num_threads()}


def _language(out: str, steps: int) -> dict:
    """``posekit train --quick`` for ``steps`` steps of 4 records per process: tokens/s of the steps after
    the first two (the log's rate)."""
    from posekit import distributed
    from posekit.models.chatpose.training import TrainConfig, train

    config = TrainConfig.quick(steps=steps, log_every=1, checkpoint_every=steps, eval_limit=0)
    result = train(config, out, progress=False)
    rows = result.log.iloc[2:]
    tokens = float((rows["tokens_per_s"]).mean()) * distributed.num_processes()
    return {"processes": distributed.num_processes(), "steps": steps, "rate": round(tokens, 1), "unit": "tokens/s",
            "seconds_per_step": round(float((1 / rows["samples_per_s"] * 4).mean()), 2),
            "threads": torch.get_num_threads()}


def _worker(args: argparse.Namespace) -> None:
    """One measurement inside this process (and its torchrun peers); the main process prints it."""
    from posekit import distributed

    if args.stage == "decoder":
        row = _decoder(args.requests, args.epochs)
    elif args.stage == "states":
        row = _states(args.dataset, args.requests)
    else:
        row = _language(args.folder, args.steps)
    if distributed.is_main():
        print("RESULT " + json.dumps({"stage": args.stage, **row}), flush=True)


def _launch(stage: str, processes: int, extra: list[str], env: dict) -> dict:
    argv = [str(HERE), "--worker", "--stage", stage, *extra]
    if processes > 1:
        with socket.socket() as free:
            free.bind(("127.0.0.1", 0))
            port = free.getsockname()[1]
        argv = ["-m", "torch.distributed.run", "--nproc_per_node", str(processes), "--master_addr", "127.0.0.1",
                "--master_port", str(port), *argv]
    done = subprocess.run([sys.executable, *argv], capture_output=True, text=True, env={**os.environ, **env})
    if done.returncode:
        raise RuntimeError(done.stderr[-3000:])
    line = next(x for x in done.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[7:])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="data/experiments/scaling")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--stage", default="decoder")
    parser.add_argument("--requests", type=int, default=2048)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--dataset", default="quick")
    parser.add_argument("--folder", default="")
    args = parser.parse_args()
    if args.worker:
        _worker(args)
        return
    from posekit.datasets import DatasetConfig, ensure_dataset
    from posekit.encoders.llm import smollm2_dir

    ensure_dataset(DatasetConfig.quick())
    llm_folder = smollm2_dir().parent
    rows = []
    for processes in (1, 2):
        rows.append(_launch("decoder", processes, ["--requests", "2048", "--epochs", "3"], {}))
        print(rows[-1], flush=True)
        with tempfile.TemporaryDirectory() as cache:  # states computed afresh, the converted backbone shared
            (Path(cache) / "llm").symlink_to(llm_folder, target_is_directory=True)
            rows.append(_launch("states", processes, ["--requests", "512"], {"POSEKIT_CACHE": cache}))
        print(rows[-1], flush=True)
        with tempfile.TemporaryDirectory() as run:
            rows.append(_launch("language", processes, ["--steps", "8", "--folder", run], {}))
        print(rows[-1], flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({
        "machine": f"{os.cpu_count()} CPU cores, torch {torch.__version__}", "rows": rows,
        "command": "python bench/scaling.py"}, indent=1))
    for row in rows:
        print(f"{row['stage']:<9} {row['processes']} process(es): {row['rate']:>9} {row['unit']}")


if __name__ == "__main__":
    main()
