"""Fine-tune ChatPose on posekit's task datasets, on a laptop CPU or on many GPUs.

Built on Hugging Face accelerate: ``posekit train ...`` runs on the CPU here, and
``accelerate launch -m posekit train ...`` runs the same code on one or many GPUs (DDP, FSDP or
DeepSpeed as configured with ``accelerate config``). Each step draws a batch of records from the
tasks by ``TrainConfig.task_weights``; the draw is a pure function of ``(seed, step, process)``,
so a resumed run sees exactly the batches it would have seen.

Output folder::

    out/
      checkpoints/step-000200/   trained parts + optimizer, scheduler and RNG state (atomic)
      checkpoints/latest         name of the newest complete checkpoint
      model/                     the final trained parts: ChatPose.load(out / "model")
      train_config.json  log.csv  eval.csv
"""
from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import random
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from posekit import distributed
from posekit.configs import check_field_types
from posekit.datasets import dataset_dir, describe_then_pose, load_records
from posekit.datasets.records import IMAGE_TASKS, POSE_TASKS, TASKS, Record
from posekit.files import atomic_dir, atomic_path, copy_other_files, read_torch_file
from posekit.models.chatpose.checkpoint import CONFIG_FILE, WEIGHTS_FILE, is_checkpoint_folder
from posekit.models.chatpose.config import ChatPoseConfig, CheckpointError
from posekit.models.chatpose.model import ChatPose
from posekit.outputs import MARKER, OutputFolder, check_replaceable, copy_marker, mark, read_fields

__all__ = ["TrainConfig", "TrainResult", "train", "plot_log", "DEFAULT_TASK_WEIGHTS", "latest_checkpoint", "export_run"]

DEFAULT_TASK_WEIGHTS = {"text2pose": 0.25, "spg": 0.25, "pose2text": 0.1, "image2pose": 0.1, "rpe": 0.15,
                        "edit": 0.1, "chat": 0.05}


@dataclasses.dataclass
class TrainConfig:
    """A training run (saved as ``train_config.json`` and inside every checkpoint)."""

    model: ChatPoseConfig = dataclasses.field(default_factory=ChatPoseConfig)
    init_from: str | None = None
    """A ChatPose checkpoint folder whose trained parts (same names and shapes) start this run;
    parts it lacks (e.g. another pose head) start fresh. None: everything starts fresh."""
    dataset: str = "default"
    """Dataset name under ``data/generated`` (see :func:`posekit.datasets.dataset_dir`) or a folder."""
    task_weights: dict[str, float] = dataclasses.field(default_factory=lambda: dict(DEFAULT_TASK_WEIGHTS))
    describe_tasks: tuple[str, ...] = ()
    """"Describe, then pose": tasks whose answers first state the target pose's posecode description
    (:func:`posekit.datasets.describe_then_pose`), e.g. ``("spg",)``. ChatPose: none."""
    steps: int = 2000
    batch_size: int = 8
    grad_accum: int = 1
    lr: float = 5e-4
    """LoRA learning rate."""
    head_lr: float = 1e-3
    """Learning rate of the pose head, pose encoder, image projector and new token rows."""
    weight_decay: float = 0.0
    warmup_steps: int = 50
    max_grad_norm: float = 1.0
    seed: int = 0
    log_every: int = 10
    checkpoint_every: int = 200
    keep_checkpoints: int = 2
    eval_every: int = 0
    """Evaluate on validation records every this many steps (0: only at the end when ``eval_limit``)."""
    eval_limit: int = 0
    """Validation records per task for the periodic evaluation (0: none)."""
    eval_tasks: tuple[str, ...] = POSE_TASKS
    mixed_precision: str = "no"
    """accelerate's ``"no"``, ``"bf16"`` or ``"fp16"`` (GPUs)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        positive = {name: getattr(self, name) for name in ("steps", "batch_size", "grad_accum", "log_every",
                                                           "checkpoint_every", "keep_checkpoints")}
        bad = {k: v for k, v in positive.items() if v < 1}
        if bad:
            raise ValueError(f"TrainConfig: {', '.join(f'{k}={v}' for k, v in bad.items())}: each must be >= 1")
        if min(self.lr, self.head_lr, self.warmup_steps, self.eval_every, self.eval_limit) < 0:
            raise ValueError(f"TrainConfig: lr, head_lr, warmup_steps, eval_every and eval_limit must be >= 0, got "
                             f"lr={self.lr}, head_lr={self.head_lr}, warmup_steps={self.warmup_steps}, "
                             f"eval_every={self.eval_every}, eval_limit={self.eval_limit}")
        if self.mixed_precision not in ("no", "bf16", "fp16"):
            raise ValueError(f"TrainConfig: mixed_precision must be 'no', 'bf16' or 'fp16', got {self.mixed_precision!r}")
        unknown = sorted(set(self.task_weights) - set(TASKS))
        if unknown or any(w < 0 for w in self.task_weights.values()) or not any(self.task_weights.values()):
            raise ValueError(f"TrainConfig.task_weights must give tasks of {sorted(TASKS)} weights >= 0, at least one "
                             f"> 0; got {self.task_weights}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "TrainConfig":
        values = dict(values)
        known = {f.name for f in dataclasses.fields(TrainConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(f"unknown TrainConfig fields {unknown}; known: {sorted(known)}")
        values["model"] = ChatPoseConfig.from_dict(values.get("model", {}))
        for key in ("eval_tasks", "describe_tasks"):
            if key in values:
                values[key] = tuple(values[key])
        return TrainConfig(**values)

    @staticmethod
    def quick(**overrides) -> "TrainConfig":
        """A few steps on the quick dataset: what the notebook and tests run on a CPU."""
        values = dict(dataset="quick", steps=8, batch_size=4, log_every=2, checkpoint_every=4, warmup_steps=2)
        return TrainConfig(**{**values, **overrides})


@dataclasses.dataclass
class TrainResult:
    model: ChatPose
    log: pd.DataFrame  # one row per logged step
    eval: pd.DataFrame  # one row per (step, task) evaluation
    out_dir: Path


def latest_checkpoint(out_dir: str | os.PathLike) -> Path | None:
    """The newest complete checkpoint folder of a run, or None."""
    pointer = Path(out_dir) / "checkpoints" / "latest"
    if not pointer.is_file():
        return None
    folder = pointer.parent / pointer.read_text().strip()
    if not (folder / "training_state.pt").is_file():
        raise CheckpointError(f"{pointer} names {folder.name}, which is incomplete: delete it or the pointer")
    return folder


def _write_atomic(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


class _Sampler:
    """Batches as a pure function of (seed, step, micro-batch): the global batch of ``size`` records per
    process is drawn the same way whatever the number of processes, and process ``process`` of
    ``processes`` takes its slice, so that N processes train on exactly the records one process would
    with N times the batch."""

    def __init__(self, records: dict[str, list[Record]], weights: dict[str, float], seed: int, process: int,
                 processes: int = 1):
        self.tasks = [t for t in weights if weights[t] > 0 and records.get(t)]
        if not self.tasks:
            raise ValueError(f"no training records for the weighted tasks {sorted(weights)}")
        self.records, self.seed, self.process, self.processes = records, seed, process, processes
        self.probs = torch.tensor([weights[t] for t in self.tasks], dtype=torch.float64)

    def batch(self, step: int, micro: int, size: int) -> list[Record]:
        """One task per micro-batch (drawn by weight): similar lengths, little padding."""
        gen = torch.Generator().manual_seed(((self.seed * 1_000_003 + step) * 1009 + micro) * 131)
        pool = self.records[self.tasks[int(torch.multinomial(self.probs, 1, generator=gen))]]
        drawn = torch.randint(len(pool), (size * self.processes,), generator=gen).tolist()
        return [pool[i] for i in drawn[self.process * size:(self.process + 1) * size]]


def _lr_lambda(warmup: int, total: int):
    def f(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warmup) / max(1, total - warmup))))
    return f


def _rng_state() -> dict:
    kind, keys, pos, has_gauss, gauss = np.random.get_state()  # plain values: the file loads with weights_only
    state = {"torch": torch.get_rng_state(), "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, gauss],
             "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


RUN_ENTRIES = ("train_config.json", "log.csv", "eval.csv", "checkpoints", "model")
"""What a run writes into its folder (a file of these names that posekit did not write is never replaced)."""


def is_run_folder(folder: Path) -> bool:
    """Whether ``folder`` holds a run posekit wrote before folders carried :data:`posekit.outputs.MARKER`:
    its ``train_config.json`` holds a TrainConfig's fields (not only a file of that name)."""
    saved = read_fields(Path(folder) / "train_config.json")
    return isinstance(saved.get("model"), dict) and isinstance(saved.get("task_weights"), dict)


def train(config: TrainConfig | None = None, out_dir: str | os.PathLike = "runs/chatpose", resume: bool = True,
          model: ChatPose | None = None, progress: bool = True, stop_after: int | None = None,
          force: bool = False, validate: Callable[[ChatPose, int], list[dict]] | None = None) -> TrainResult:
    """Train (or resume) a ChatPose run into ``out_dir``.

    ``model`` replaces the one built from ``config.model`` (tests pass a tiny backbone);
    ``stop_after`` ends the run after that many steps of this call, as an interruption would.
    ``validate(model, step) -> rows``: the periodic evaluation when ``config.eval_limit`` > 0 (the
    evaluation layer's :func:`posekit.evaluation.benchmark.validation`, passed in so that training does
    not import the layer above it).
    A file of the run's names (:data:`RUN_ENTRIES`) that posekit did not write in ``out_dir`` is refused
    before any work (:class:`posekit.outputs.OutputFolder`; ``force``: replaced)."""
    from accelerate import Accelerator, DistributedDataParallelKwargs
    from tqdm.auto import tqdm

    if model is not None and model.inference_only:
        raise ValueError("this model was prepared for half-precision inference by set_dtype (LoRA merged, weights "
                         "cast) and cannot be trained: load the checkpoint again without a dtype (float32) and train "
                         "that; use accelerate's mixed_precision for half-precision training")
    config = config or TrainConfig()
    if config.eval_limit and validate is None:
        raise ValueError("TrainConfig.eval_limit > 0 evaluates during training: pass "
                         "validate=posekit.evaluation.benchmark.validation(config) (posekit train does)")
    if config.mixed_precision == "fp16" and distributed.cpu_only():
        raise ValueError("mixed_precision 'fp16' needs a GPU and this machine has none (it would not be applied); "
                         "use 'no' (or 'bf16', which CPUs run) in the config or --mixed-precision")
    run_folder = OutputFolder(out_dir, "train", names=RUN_ENTRIES, force=force, legacy=is_run_folder)
    out_dir = Path(out_dir)
    # a text-only batch leaves the image projector unused: DDP must allow that
    # cpu=True where there is no GPU: accelerate then runs several CPU processes (torchrun, accelerate launch)
    # as one job over gloo; without it each process trains alone, on the same batches, and all of them write
    accelerator = Accelerator(mixed_precision=config.mixed_precision, cpu=distributed.cpu_only(),
                              kwargs_handlers=[DistributedDataParallelKwargs(find_unused_parameters=True)])
    if distributed.launched():
        distributed.job()  # the same job state: its process group is closed at exit
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    np.random.seed(config.seed)
    root = Path(config.dataset) if Path(config.dataset).is_dir() else dataset_dir(config.dataset)
    records = {t: load_records(t, "train", root=root) for t, w in config.task_weights.items() if w > 0}
    unknown = set(config.describe_tasks) - set(records)
    if unknown:
        raise ValueError(f"describe_tasks {sorted(unknown)} are not trained (task_weights: {config.task_weights})")
    for task in config.describe_tasks:
        records[task] = describe_then_pose(records[task])
    if model is not None:
        config = dataclasses.replace(config, model=model.config)  # the run records the model it trains
    model = model if model is not None else ChatPose(config.model)
    image_tasks = [t for t in IMAGE_TASKS if config.task_weights.get(t, 0) > 0]
    if image_tasks and model.vision is None:
        raise ValueError(f"task_weights include {image_tasks} but the model has no vision encoder: "
                         "set model.vision_encoder or give those tasks weight 0")
    model.init_pose_head([r for rs in records.values() for r in rs])
    if config.init_from:
        meta = ChatPose.read_meta(config.init_from)
        fresh = model.load_trained(config.init_from, meta, strict=False)
        if accelerator.is_main_process and progress:
            print(f"started from {config.init_from}; fresh: {sorted({n.split('.')[0] for n in fresh}) or 'nothing'}")
    heads = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" not in n]
    lora = [p for n, p in model.named_parameters() if p.requires_grad and "lora_" in n]
    optimizer = torch.optim.AdamW([{"params": lora, "lr": config.lr}, {"params": heads, "lr": config.head_lr}],
                                  weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _lr_lambda(config.warmup_steps, config.steps))
    wrapped, optimizer, scheduler = accelerator.prepare(model, optimizer, scheduler)

    start, log_rows, eval_rows = 0, [], []
    checkpoint = latest_checkpoint(out_dir) if resume else None
    if checkpoint is not None:
        meta = ChatPose.read_meta(checkpoint)
        if meta.get("train_config", {}).get("model") != json.loads(json.dumps(config.model.to_dict())):
            raise CheckpointError(f"{checkpoint} was written by a run with another model config; "
                                  "use a new out_dir or resume=False")
        model.load_trained(checkpoint, meta)
        state = read_torch_file(checkpoint / "training_state.pt", "training state")
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        _set_rng_state(distributed.own_state(state.get("rng_per_process"), state["rng"]))
        start, log_rows, eval_rows = state["step"], state["log"], state["eval"]
    if accelerator.is_main_process:
        run_folder.record(*RUN_ENTRIES)  # the run's entries, written as it goes
        _write_atomic(out_dir / "train_config.json", json.dumps(config.to_dict(), indent=2))

    sampler = _Sampler(records, config.task_weights, config.seed, accelerator.process_index, accelerator.num_processes)
    end = config.steps if stop_after is None else min(config.steps, start + stop_after)
    bar = tqdm(range(start, end), desc="train", disable=not (progress and accelerator.is_main_process), initial=start,
               total=config.steps)
    wrapped.train()
    window = {"loss": 0.0, "ce": 0.0, "rotmat": 0.0, "joint": 0.0, "samples": 0, "tokens": 0, "time": 0.0}
    for step in bar:
        tic = time.perf_counter()
        for micro in range(config.grad_accum):
            batch = model.collate(sampler.batch(step, micro, config.batch_size), root).to(accelerator.device)
            with accelerator.no_sync(wrapped) if micro < config.grad_accum - 1 else contextlib.nullcontext():
                out = wrapped(batch)
                if not torch.isfinite(out["loss"]):  # stop before a NaN reaches the weights or a checkpoint
                    raise ValueError(f"training diverged at step {step + 1} (loss {float(out['loss'].detach())}); the last "
                                     "checkpoint is kept and nothing newer is saved: lower the learning rate")
                accelerator.backward(out["loss"] / config.grad_accum)
            for key in ("loss", "ce", "rotmat", "joint"):
                window[key] += float(out[key].detach()) / config.grad_accum
            window["samples"] += len(batch.input_ids)
            window["tokens"] += int(batch.attention_mask.sum())
        if config.max_grad_norm:
            accelerator.clip_grad_norm_(wrapped.parameters(), config.max_grad_norm)
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)
        window["time"] += time.perf_counter() - tic
        done = step + 1
        if done % config.log_every == 0 or done == config.steps:
            n = config.log_every if done % config.log_every == 0 else done % config.log_every
            keys = ("loss", "ce", "rotmat", "joint")  # the mean over the processes: the global batch's losses
            means = accelerator.reduce(torch.tensor([window[k] for k in keys], device=accelerator.device), "mean")
            window.update({k: float(v) for k, v in zip(keys, means.tolist())})
            row = {"step": done, **{k: window[k] / n for k in keys},
                   "lr": scheduler.get_last_lr()[0], "samples_per_s": window["samples"] / window["time"],
                   "tokens_per_s": window["tokens"] / window["time"]}
            log_rows.append(row)
            window = dict.fromkeys(window, 0.0)
            bar.set_postfix(loss=f"{row['loss']:.3f}", rot=f"{row['rotmat']:.3f}")
            if accelerator.is_main_process:
                _write_atomic(out_dir / "log.csv", pd.DataFrame(log_rows).to_csv(index=False))
        if config.eval_limit and ((config.eval_every and done % config.eval_every == 0) or done == config.steps):
            eval_rows += validate(model, done)
            if accelerator.is_main_process:
                _write_atomic(out_dir / "eval.csv", pd.DataFrame(eval_rows).to_csv(index=False))
        if done % config.checkpoint_every == 0 or done == config.steps:
            accelerator.wait_for_everyone()
            rngs = distributed.gather_objects(_rng_state())  # every process's: a resumed run draws as this one would
            if accelerator.is_main_process:
                _save_checkpoint(model, optimizer, scheduler, config, out_dir, done, log_rows, eval_rows, rngs)
    bar.close()
    if end == config.steps and accelerator.is_main_process:
        model.save(out_dir / "model", extra={"train_config": config.to_dict(), "steps": config.steps})
    return TrainResult(model, pd.DataFrame(log_rows), pd.DataFrame(eval_rows), out_dir)


def _save_checkpoint(model: ChatPose, optimizer, scheduler, config: TrainConfig, out_dir: Path, step: int,
                     log_rows: list, eval_rows: list, rngs: list[dict]) -> Path:
    folder = out_dir / "checkpoints" / f"step-{step:06d}"
    model.save(folder, extra={"train_config": config.to_dict(), "steps": step})
    state = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rngs[0],
             "rng_per_process": rngs,
             "step": step, "log": log_rows, "eval": eval_rows}
    with atomic_path(folder / "training_state.pt") as tmp:
        torch.save(state, tmp)
    _write_atomic(out_dir / "checkpoints" / "latest", folder.name)
    done = sorted(p for p in folder.parent.glob("step-*") if p.is_dir() and "tmp" not in p.name)
    for old in done[:-config.keep_checkpoints]:
        shutil.rmtree(old)
    return folder


EXPORTED_LOGS = ("train_config.json", "log.csv", "eval.csv")
"""A run's files that an export ships beside the trained parts."""


def export_run(run_dir: str | os.PathLike, out_dir: str | os.PathLike, dtype: torch.dtype = torch.float16,
               force: bool = False) -> Path:
    """Ship a finished run: its trained parts (``dtype``, half the size by default) plus its
    ``train_config.json``, ``log.csv`` and ``eval.csv`` into ``out_dir`` (what ``load_chatpose`` reads).
    ``out_dir`` is replaced only when posekit wrote it (:func:`posekit.outputs.check_replaceable`; ``force``:
    anyway); the files a user put in it are kept."""
    run_dir, out_dir = Path(run_dir), Path(out_dir)
    check_replaceable(out_dir, force, legacy=is_checkpoint_folder, what="checkpoint folder",  # before any work
                      names=(WEIGHTS_FILE, CONFIG_FILE, *EXPORTED_LOGS))
    if not (run_dir / "model").is_dir():
        raise CheckpointError(f"{run_dir} has no model/ folder: the run has not finished (resume it with `posekit train`)")
    meta = ChatPose.read_meta(run_dir / "model")
    planned = meta.get("train_config", {}).get("steps")
    if planned is None or meta.get("steps") != planned:
        raise CheckpointError(f"{run_dir / 'model'} holds {meta.get('steps')} of {planned} planned steps: "
                              "finish the run (`posekit train` resumes it) before exporting")
    from safetensors.torch import load_file, save_file

    state = load_file(run_dir / "model" / WEIGHTS_FILE)
    logs = EXPORTED_LOGS
    # the old checkpoint stays whole and loadable until the new one is complete; its other files are kept
    with atomic_dir(out_dir) as tmp:
        copy_other_files(out_dir, tmp, skip=(WEIGHTS_FILE, CONFIG_FILE, MARKER, *logs))
        copy_marker(out_dir, tmp)
        save_file({k: v.to(dtype) if v.is_floating_point() else v for k, v in state.items()}, tmp / WEIGHTS_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        for name in logs:
            if (run_dir / name).is_file():
                shutil.copyfile(run_dir / name, tmp / name)
        mark(tmp, "export", [WEIGHTS_FILE, CONFIG_FILE, *(n for n in logs if (tmp / n).is_file())])
    return out_dir


def plot_log(log: pd.DataFrame | str | os.PathLike, title: str = "ChatPose training"):
    """Plotly figure of the loss terms per step (a run's ``log.csv`` or its DataFrame)."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    log = pd.read_csv(log) if not isinstance(log, pd.DataFrame) else log
    fig = make_subplots(rows=1, cols=2, subplot_titles=("cross-entropy", "rotation-matrix L1 / joint L1"))
    fig.add_trace(go.Scatter(x=log["step"], y=log["ce"], name="CE"), row=1, col=1)
    fig.add_trace(go.Scatter(x=log["step"], y=log["rotmat"], name="rotmat L1"), row=1, col=2)
    if (log["joint"] > 0).any():
        fig.add_trace(go.Scatter(x=log["step"], y=log["joint"], name="joint L1 (m)"), row=1, col=2)
    fig.update_layout(title=title, height=340, xaxis_title="step", xaxis2_title="step")
    return fig
