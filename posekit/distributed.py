"""One job over several processes: which process this is, where it computes, waiting for the others,
and summing numbers and gradients across them.

Every training stage goes through these helpers, so that the same code runs as one process (no
launcher: every call here is a no-op), as several CPU processes (``torchrun --nproc_per_node N``,
gloo) or on one or many GPUs (``torchrun`` / ``accelerate launch``, NCCL). The job is accelerate's
``PartialState``, told that there is no GPU where there is none: without that, processes started by
torchrun on a CPU machine would each train alone, on the same batches, and all of them would write.

    job = distributed.job()
    mine = distributed.share(rows)             # this process's slice of a global batch
    distributed.average_gradients(params)      # after backward: the global batch's gradient
    with distributed.main_first():             # the main process builds a cache, then the others read it
        ...
"""
from __future__ import annotations

import atexit
import contextlib
import os

import torch

__all__ = ["cpu_only", "job", "launched", "is_main", "process_index", "num_processes", "device", "barrier", "main_first",
           "share", "sum_across", "gather_objects", "own_state", "average_gradients", "autocast"]


def launched() -> bool:
    """True in a process started by a launcher with more than one process (``WORLD_SIZE`` > 1)."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def cpu_only() -> bool:
    """What accelerate must be told (``cpu=``) for launched processes to be one job: True on a machine
    without a GPU (without it, each CPU process would train alone)."""
    return not torch.cuda.is_available()


def job():
    """accelerate's process state (created once, shared with accelerate's ``Accelerator``): on a
    machine without a GPU, several processes are one job over gloo. The job's process group is
    closed when the process exits (:func:`_close`)."""
    from accelerate import PartialState

    state = PartialState(cpu=cpu_only())
    global _CLOSE_REGISTERED
    if not _CLOSE_REGISTERED and torch.distributed.is_available() and torch.distributed.is_initialized():
        atexit.register(_close)
        _CLOSE_REGISTERED = True
    return state


_CLOSE_REGISTERED = False


def _close() -> None:
    """End the process group at exit: left to the interpreter's teardown, gloo's threads can abort a
    finished process ("terminate called without an active exception", exit code -6), and the
    launcher then reports the whole run as failed."""
    if torch.distributed.is_initialized():
        torch.distributed.destroy_process_group()


def is_main() -> bool:
    """True in the process that writes files (the only one without a launcher)."""
    return not launched() or job().is_main_process


def process_index() -> int:
    return job().process_index if launched() else 0


def num_processes() -> int:
    return job().num_processes if launched() else 1


def device() -> torch.device:
    """Where this process computes: its GPU, or the CPU."""
    if launched():
        return torch.device(job().device)
    return torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu")


def barrier() -> None:
    """Wait until every process gets here (nothing to wait for in one process)."""
    if launched():
        job().wait_for_everyone()


@contextlib.contextmanager
def main_first():
    """The main process runs the block first (it builds a dataset or a cache), then the others run it
    (and read what it built)."""
    if not launched():
        yield
        return
    if not is_main():
        barrier()
    try:
        yield
    finally:
        if is_main():
            barrier()


def share(rows: torch.Tensor) -> tuple[torch.Tensor, float]:
    """This process's rows of a global batch ``rows`` (every ``num_processes()``-th, starting at its
    index) and the weight its mean loss takes, ``len(mine) * processes / len(rows)``, so that the
    processes' averaged gradients are the gradient of the global batch's mean loss whatever the
    split. A process left without rows takes the first row with weight 0 (it must still join the
    gradient sum)."""
    n = num_processes()
    if n == 1:
        return rows, 1.0
    mine = rows[process_index()::n]
    if len(mine) == 0:
        return rows[:1], 0.0
    return mine, len(mine) * n / len(rows)


def sum_across(values: list[float]) -> list[float]:
    """Each number summed over the processes (as is in one process)."""
    if not launched():
        return list(values)
    total = torch.tensor(values, dtype=torch.float64, device=device())
    torch.distributed.all_reduce(total)
    return total.tolist()


def gather_objects(value) -> list:
    """``value`` from every process, in process order (``[value]`` in one process): e.g. each process's
    random state, which a checkpoint the main process writes must keep for every process."""
    if not launched():
        return [value]
    out = [None] * num_processes()
    torch.distributed.all_gather_object(out, value)
    return out


def own_state(per_process: list | None, fallback):
    """This process's entry of a list :func:`gather_objects` made, when the job has as many processes as
    the list; otherwise ``fallback`` (a checkpoint from another number of processes, or an older one)."""
    if per_process is not None and len(per_process) == num_processes():
        return per_process[process_index()]
    return fallback


def average_gradients(params: list[torch.nn.Parameter]) -> None:
    """Average the parameters' gradients over the processes in one all-reduce (what DDP does after
    backward, for a model called through several methods, which DDP's wrapper does not see). A
    parameter without a gradient counts as zeros; every process must call this each step."""
    n = num_processes()
    if n == 1:
        return
    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
    flat = torch.cat([p.grad.reshape(-1) for p in params])
    torch.distributed.all_reduce(flat)
    flat /= n
    start = 0
    for p in params:
        p.grad.copy_(flat[start:start + p.numel()].view_as(p.grad))
        start += p.numel()


def autocast(where: torch.device):
    """bfloat16 autocast on a GPU that has it (the weights and the optimizer stay float32); nothing on
    the CPU, where training stays in float32."""
    if where.type == "cuda" and torch.cuda.is_bf16_supported():
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()
