"""Several processes train as one job: `torchrun --nproc_per_node 2` on the CPU (gloo) gives the same run
as one process with the same global batch, with synchronised weights and one writer (tiny backbone), for
each stage: the request states, the pose decoder and the language stage; a run killed mid-way resumes."""
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import torch

TESTS = str(Path(__file__).parent)

PREAMBLE = """import json, os, sys
def report(result):  # a file per process: two processes printing at once can interleave their lines
    with open(os.path.join(os.environ["RESULTS"], f"rank{result['rank']}.json"), "w") as fh:
        json.dump(result, fh)
"""

SCRIPT = '''
sys.path.insert(0, {tests!r})
import torch
from accelerate import PartialState
from test_chatpose import tiny_chatpose
from posekit.models.chatpose.training import TrainConfig, train

out, batch, dataset = sys.argv[1], int(sys.argv[2]), sys.argv[3]
stop = int(sys.argv[4]) if len(sys.argv) > 4 else None
weights = {{"text2pose": 1.0, "spg": 1.0, "edit": 0.5}}
config = TrainConfig(dataset=dataset, steps=4, batch_size=batch, log_every=1, checkpoint_every=2, warmup_steps=1,
                     task_weights=weights)
result = train(config, out, model=tiny_chatpose(), progress=False, stop_after=stop)
state = PartialState()
torch.save(result.model.trainable_state(), f"{{out}}/weights-rank{{state.process_index}}.pt")
report({{"rank": state.process_index, "world": state.num_processes, "loss": result.log["loss"].tolist()}})
'''


def _run(argv: list[str], env: dict | None = None, fails: bool = False) -> list[dict]:
    """Run ``argv``; the result each process reported (a file per process: two processes printing at once
    can interleave their lines), by rank."""
    import tempfile

    with tempfile.TemporaryDirectory() as results:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=300,
                              env={**os.environ, **(env or {}), "RESULTS": results})
        assert (done.returncode != 0) == fails, done.stderr[-3000:]
        return sorted((json.loads(p.read_text()) for p in Path(results).glob("rank*.json")), key=lambda r: r["rank"])


def _torchrun(script: Path, *args: str, env: dict | None = None, fails: bool = False) -> list[dict]:
    """``script args`` in two processes on this machine (gloo), their results by rank."""
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    return _run([sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
                 "--master_port", str(port), str(script), *args], env, fails)


def test_two_processes_train_as_one_process_with_the_same_global_batch(tmp_path, tiny_dataset):
    script = tmp_path / "run.py"
    script.write_text(PREAMBLE + SCRIPT.format(tests=TESTS))
    dataset = str(tiny_dataset[0])
    (alone,) = _run([sys.executable, str(script), str(tmp_path / "one"), "4", dataset])
    pair = _torchrun(script, str(tmp_path / "two"), "2", dataset)
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


def test_a_two_process_language_run_stopped_mid_way_resumes_exactly(tmp_path, tiny_dataset):
    script = tmp_path / "run.py"
    script.write_text(PREAMBLE + SCRIPT.format(tests=TESTS))
    dataset = str(tiny_dataset[0])
    straight = _torchrun(script, str(tmp_path / "straight"), "2", dataset)
    first = _torchrun(script, str(tmp_path / "stopped"), "2", dataset, "3")  # ends after step 3 (checkpoint: step 2)
    assert len(first[0]["loss"]) == 3
    resumed = _torchrun(script, str(tmp_path / "stopped"), "2", dataset)
    assert resumed[0]["loss"] == straight[0]["loss"]  # steps 3 and 4 redone from step 2's checkpoint: the same numbers
    weights = [torch.load(tmp_path / name / "weights-rank0.pt") for name in ("straight", "stopped")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


DECODER_SCRIPT = '''
import dataclasses
sys.path.insert(0, {tests!r})
import torch
from posekit import distributed
import posekit.models.decoder.training as training
from test_decoder import CONFIG, _records

out, stop = sys.argv[1], int(sys.argv[2])
config = dataclasses.replace(CONFIG, dropout=float(sys.argv[3]) if len(sys.argv) > 3 else 0.0)
writes = []
atomic_path = training.atomic_path
def counted(path):
    writes.append(str(path))
    return atomic_path(path)
training.atomic_path = counted

def log(row):
    if row["epoch"] == stop:  # killed in the middle of the run
        raise KeyboardInterrupt
train_records, train_states = _records(89, 0)
val_records, val_states = _records(30, 1)
settings = training.DecoderTrainConfig(epochs=4, batch_size=32, patience=10)
decoder, history = training.train_pose_decoder(train_records, train_states, val_records, val_states, config, settings,
                                               progress=False, checkpoint=out + "/run.pt", log=log)
rank = distributed.process_index()
torch.save(decoder.state_dict(), f"{{out}}/decoder-rank{{rank}}.pt")
report({{"rank": rank, "world": distributed.num_processes(), "writes": len(writes),
        "train": [h["train_loss"] for h in history], "val": [h["val_loss"] for h in history]}})
'''


def test_the_decoder_stage_on_two_processes_is_the_one_process_run_and_resumes_exactly(tmp_path):
    script = tmp_path / "decoder.py"
    script.write_text(PREAMBLE + DECODER_SCRIPT.format(tests=TESTS))
    for name in ("one", "two", "stopped"):
        (tmp_path / name).mkdir()
    (alone,) = _run([sys.executable, str(script), str(tmp_path / "one"), "0"])
    pair = _torchrun(script, str(tmp_path / "two"), "0")
    assert [(r["rank"], r["world"]) for r in pair] == [(0, 2), (1, 2)] and alone["world"] == 1
    assert pair[0]["train"] == pair[1]["train"] and pair[0]["val"] == pair[1]["val"]  # summed across processes
    # the same global batches, each process's share weighed by its size and the gradients averaged: the one-process
    # run up to the order of float sums (batches of 32, 32 and 25 rows: 16/16, 16/16 and 13/12, the last one weighed)
    for key in ("train", "val"):
        assert max(abs(a - b) / b for a, b in zip(pair[0][key], alone[key])) < 1e-4
    weights = [torch.load(tmp_path / "two" / f"decoder-rank{k}.pt") for k in (0, 1)]
    single = torch.load(tmp_path / "one" / "decoder-rank0.pt")
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in single)  # gradients synchronised
    assert all(torch.allclose(weights[0][k], single[k], atol=1e-4) for k in single)
    assert [r["writes"] for r in pair] == [4, 0] and alone["writes"] == 4  # one writer: the main process
    # killed while logging epoch 2 (its checkpoint holds epoch 1), started again: the uninterrupted two-process run
    _torchrun(script, str(tmp_path / "stopped"), "2", fails=True)
    resumed = _torchrun(script, str(tmp_path / "stopped"), "0")
    assert resumed[0]["train"] == pair[0]["train"] and resumed[0]["val"] == pair[0]["val"]
    again = torch.load(tmp_path / "stopped" / "decoder-rank0.pt")
    assert all(torch.equal(again[k], weights[0][k]) for k in single)
    assert resumed[0]["writes"] == 3  # epochs 2-4


def test_with_dropout_each_process_resumes_with_its_own_random_state(tmp_path):
    # the processes draw their own dropout masks: a resumed run is exact only if the checkpoint keeps every
    # process's random state, not the main process's alone
    script = tmp_path / "decoder.py"
    script.write_text(PREAMBLE + DECODER_SCRIPT.format(tests=TESTS))
    for name in ("straight", "stopped"):
        (tmp_path / name).mkdir()
    straight = _torchrun(script, str(tmp_path / "straight"), "0", "0.3")
    _torchrun(script, str(tmp_path / "stopped"), "3", "0.3", fails=True)  # killed while logging epoch 3
    resumed = _torchrun(script, str(tmp_path / "stopped"), "0", "0.3")
    assert resumed[0]["train"] == straight[0]["train"] and resumed[0]["val"] == straight[0]["val"]
    weights = [torch.load(tmp_path / name / "decoder-rank0.pt") for name in ("straight", "stopped")]
    assert all(torch.equal(weights[0][k], weights[1][k]) for k in weights[0])


STATES_SCRIPT = '''
sys.path.insert(0, {tests!r})
import torch
from posekit import distributed
from posekit.datasets import load_records
from posekit.encoders.state_cache import request_states
from test_chatpose import tiny_llama

records = load_records("text2pose", "train", root=sys.argv[1])[:37]
states = request_states(records, 1, "tiny-llama", batch_size=4, progress=False, model=tiny_llama())
torch.save({{"flat": states.flat, "offsets": states.offsets}}, f"{{sys.argv[2]}}/states-rank{{distributed.process_index()}}.pt")
report({{"rank": distributed.process_index(), "world": distributed.num_processes()}})
'''


def test_request_states_are_shared_out_across_processes_and_joined_into_one_cache(tmp_path, tiny_dataset):
    from test_chatpose import tiny_llama

    from posekit.datasets import load_records
    from posekit.encoders.state_cache import request_states

    script = tmp_path / "states.py"
    script.write_text(PREAMBLE + STATES_SCRIPT.format(tests=TESTS))
    from posekit.encoders.llm import smollm2_dir

    cache = tmp_path / "cache"  # a fresh cache for the states, the converted backbone's folder shared (not converted again)
    cache.mkdir()
    (cache / "llm").symlink_to(smollm2_dir(progress=False).parent, target_is_directory=True)
    pair = _torchrun(script, str(tiny_dataset[0]), str(tmp_path), env={"POSEKIT_CACHE": str(cache)})
    assert [(r["rank"], r["world"]) for r in pair] == [(0, 2), (1, 2)]
    records = load_records("text2pose", "train", root=tiny_dataset[0])[:37]
    expected = request_states(records, 1, "tiny-llama", batch_size=4, progress=False, model=tiny_llama(), cache=False)
    for rank in (0, 1):
        got = torch.load(tmp_path / f"states-rank{rank}.pt")
        assert torch.equal(got["offsets"], expected.offsets)
        # each request's states from the same weights, in a batch of other requests (padding never read)
        assert torch.allclose(got["flat"].float(), expected.flat.float(), atol=2e-3)
    files = sorted(p.name for p in (cache / "states").iterdir())
    assert len(files) == 1 and ".part-" not in files[0]  # the parts joined into one cache file and removed


def test_one_process_is_the_whole_job():
    from posekit import distributed

    rows = torch.arange(7)
    mine, weight = distributed.share(rows)
    assert torch.equal(mine, rows) and weight == 1.0  # all of a batch, weighed as it is
    assert (distributed.process_index(), distributed.num_processes(), distributed.is_main()) == (0, 1, True)
    assert distributed.sum_across([1.5, 2.0]) == [1.5, 2.0]
    p = torch.nn.Parameter(torch.ones(3))
    p.grad = torch.full((3,), 2.0)
    distributed.average_gradients([p])
    assert torch.equal(p.grad, torch.full((3,), 2.0))
    with distributed.main_first():
        distributed.barrier()  # nothing to wait for


def test_a_process_left_without_rows_joins_with_weight_zero(monkeypatch):
    from posekit import distributed

    monkeypatch.setattr(distributed, "num_processes", lambda: 2)
    monkeypatch.setattr(distributed, "process_index", lambda: 1)
    mine, weight = distributed.share(torch.tensor([4]))
    assert mine.tolist() == [4] and weight == 0.0
    mine, weight = distributed.share(torch.tensor([4, 5, 6]))
    assert mine.tolist() == [5] and weight == 2 / 3  # 1 row of 3, two processes: its mean loss counts 2/3
