"""Several processes train as one job: `torchrun --nproc_per_node 2` on the CPU (gloo) gives the same run
as one process with the same global batch, with synchronised weights and one writer (tiny backbone)."""
import json
import socket
import subprocess
import sys
from pathlib import Path

import torch

SCRIPT = '''
import json, sys
sys.path.insert(0, {tests!r})
import torch
from accelerate import PartialState
from test_chatpose import tiny_chatpose
from posekit.models.chatpose.training import TrainConfig, train

out, batch, dataset = sys.argv[1], int(sys.argv[2]), sys.argv[3]
weights = {{"text2pose": 1.0, "spg": 1.0, "edit": 0.5}}
config = TrainConfig(dataset=dataset, steps=4, batch_size=batch, log_every=1, checkpoint_every=2, warmup_steps=1,
                     task_weights=weights)
result = train(config, out, model=tiny_chatpose(), progress=False)
state = PartialState()
torch.save(result.model.trainable_state(), f"{{out}}/weights-rank{{state.process_index}}.pt")
print("RESULT " + json.dumps({{"rank": state.process_index, "world": state.num_processes,
                              "loss": result.log["loss"].tolist()}}), flush=True)
'''


def _run(argv: list[str]) -> list[dict]:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return sorted((json.loads(line[7:]) for line in done.stdout.splitlines() if line.startswith("RESULT ")),
                  key=lambda r: r["rank"])


def test_two_processes_train_as_one_process_with_the_same_global_batch(tmp_path, tiny_dataset):
    script = tmp_path / "run.py"
    script.write_text(SCRIPT.format(tests=str(Path(__file__).parent)))
    dataset = str(tiny_dataset[0])
    (alone,) = _run([sys.executable, str(script), str(tmp_path / "one"), "4", dataset])
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    pair = _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                 "--master_port", str(port), str(script), str(tmp_path / "two"), "2", dataset])
    assert [(r["rank"], r["world"]) for r in pair] == [(0, 2), (1, 2)]  # one job, not two runs side by side
    assert alone["world"] == 1
    assert pair[0]["loss"] == pair[1]["loss"]  # the log holds the global batch's mean, the same on every process
    # the same records each step: the losses follow one process's with 2 x the batch. They differ only in how
    # the two halves' token means are averaged (each process's loss is its own half's mean), which Adam's first
    # steps amplify in the weights (measured: the two runs' final weights differ about as much as two steps move
    # them), so the test holds the losses to a tolerance and the processes' weights to equality
    assert abs(pair[0]["loss"][0] - alone["loss"][0]) < 5e-3
    assert max(abs(a - b) for a, b in zip(pair[0]["loss"], alone["loss"])) < 0.05
    first, second = (torch.load(tmp_path / "two" / f"weights-rank{k}.pt") for k in (0, 1))
    assert all(torch.equal(first[k], second[k]) for k in first)  # gradients synchronised: identical weights
    log = (tmp_path / "two" / "log.csv").read_text().splitlines()
    assert len(log) == 5 and (tmp_path / "two" / "model" / "config.json").is_file()  # one writer: one log, one model
