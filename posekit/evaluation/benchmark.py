"""Benchmarks: run a pose model on a task's test split and measure it.

``evaluate(model, task)`` -> :class:`EvalResult` with a tidy summary table (task, model,
protocol, each metric, number of samples, seed) and a per-sample table (for spreads and
failure cases). ``posekit eval --task spg --model nearest`` does the same from the shell and
writes ``reports/eval/<task>_<model>.csv``.

Metrics per record: MPJPE, PA-MPJPE (22 main joints, mm), MPVPE (mm), MPJRE (degrees) and
posecode F1 of the first predicted pose against the first target; per model, the ``spread``
of its predictions around their own average (degrees, :func:`posekit.evaluation.metrics.pose_spread`):
near 0, the model gives one pose whatever the request. For tasks whose text
describes the pose (text2pose, spg) the retrieval model also ranks the predicted poses
against the queries: R@1/5/10 in both directions and mRecall, under the "full" protocol and
"pool of 32".
"""
from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path
from typing import Protocol, runtime_checkable

import pandas as pd
import torch

from posekit.body.model import load_body_model
from posekit.datasets import dataset_dir, load_records
from posekit.datasets.records import IMAGE_TASKS, POSE_TASKS, Record
from posekit.encoders.text import get_text_encoder
from posekit.evaluation.findings import LOWER_IS_BETTER
from posekit.evaluation.metrics import (
    mpjpe,
    mpjre,
    mpvpe,
    pa_mpjpe,
    paired_bootstrap,
    pose_spread,
    posecode_agreement,
    recall_at_k,
)
from posekit.models.baselines import BASELINES as BASELINE_CLASSES
from posekit.models.baselines import TEXT_QUERY_BASELINES, make_baseline, query_text
from posekit.models.chatpose import load_chatpose, load_decoder
from posekit.models.names import MODEL_NAMES
from posekit.evaluation.retrieval import load_retrieval
from posekit.paths import reports_dir

__all__ = ["EvalResult", "evaluate", "validation", "evaluate_model", "benchmark", "pose_table", "EVAL_TASKS",
           "TEXT_TASKS", "MODELS", "plot_results", "evenly", "compare", "subset_of", "PoseModel", "PosePredictor", "GenerativePoseModel",
           "TRAINED_MODELS", "BASELINES", "compare_to_baselines", "evaluate_descriptions",
           "retrieval_table"]

@runtime_checkable
class PosePredictor(Protocol):
    """What :func:`evaluate` needs of a model: a name and poses for records."""

    name: str

    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        """``(N, 24, 3)`` axis-angle poses, the first pose of each record's answer."""


@runtime_checkable
class PoseModel(PosePredictor, Protocol):
    """What :func:`evaluate_model` needs: a predictor that can also be fitted on training records
    (the baselines, the decoder and ChatPose all are one; trained models return themselves)."""

    def fit(self, records: list[Record], root: Path | None = None) -> "PoseModel":
        """Learn from training records."""


@runtime_checkable
class GenerativePoseModel(PoseModel, Protocol):
    """A model that answers in words and may forget to write a pose (ChatPose): ``missing_poses``
    counts the answers of the last :meth:`predict` that needed one appended."""

    missing_poses: int


EVAL_TASKS = POSE_TASKS
TEXT_TASKS = ("text2pose", "spg")
"""Tasks whose query describes the target pose, so that the retrieval model can rank predictions
(an edit instruction describes a change, not a pose)."""


@dataclasses.dataclass(frozen=True)
class EvalResult:
    summary: pd.DataFrame
    """One row per protocol: task, model, protocol, metrics, samples, seed."""
    per_sample: pd.DataFrame
    """One row per record: id, metrics, query text."""
    predictions: torch.Tensor
    """``(N, 24, 3)`` predicted poses."""
    targets: torch.Tensor
    """``(N, 24, 3)`` target poses."""


def subset_of(record: Record) -> str:
    """The test subset a record belongs to: spg's ``test_kind`` (unseen description of a
    training pose / unseen pose), rpe's ``query_kind``, else ``""``."""
    return str(record.meta.get("test_kind") or record.meta.get("query_kind") or "")


def compare(results: dict[str, EvalResult], reference: str, metrics=("PA-MPJPE", "posecode_F1"),
            by_subset: bool = True, seed: int = 0) -> pd.DataFrame:
    """Each model's difference to ``reference`` on the same records, per metric, with its
    paired-bootstrap 95% interval (:func:`posekit.evaluation.metrics.paired_bootstrap`); also per subset
    (spg: unseen description / unseen pose) when the records have one. Lower PA-MPJPE and
    higher F1 are better: a win is an interval wholly below (PA-MPJPE) or above (F1) zero."""

    ref = results[reference].per_sample
    rows = []
    for name, result in results.items():
        if name == reference:
            continue
        frame = result.per_sample
        if list(frame["id"]) != list(ref["id"]):
            raise ValueError(f"{name} and {reference} were evaluated on different records")
        subsets = [("all", slice(None))]
        if by_subset:
            subsets += [(s, (frame["subset"] == s).to_numpy()) for s in sorted(set(frame["subset"])) if s]
        for subset, rows_of in subsets:
            for metric in metrics:
                d = paired_bootstrap(torch.tensor(frame[metric].to_numpy()[rows_of]),
                                     torch.tensor(ref[metric].to_numpy()[rows_of]), seed=seed)
                better = d.high < 0 if metric in LOWER_IS_BETTER else d.low > 0
                worse = d.low > 0 if metric in LOWER_IS_BETTER else d.high < 0
                rows.append({"model": name, "reference": reference, "subset": subset, "metric": metric,
                             "model_value": float(frame[metric].to_numpy()[rows_of].mean()),
                             "reference_value": float(ref[metric].to_numpy()[rows_of].mean()),
                             "difference": d.mean, "ci_low": d.low, "ci_high": d.high, "samples": d.samples,
                             "verdict": "better" if better else "worse" if worse else "within noise"})
    return pd.DataFrame(rows)


BASELINES = tuple(BASELINE_CLASSES)
"""Baseline names, in report order."""


def compare_to_baselines(results: dict[tuple[str, str], EvalResult], seed: int = 0) -> pd.DataFrame:
    """For every task of a :func:`benchmark`, each model against each baseline on the same records
    (:func:`compare`: PA-MPJPE and posecode F1, with paired-bootstrap 95% intervals, per subset)."""
    frames = []
    for task in dict.fromkeys(t for t, _ in results):
        by_model = {name: r for (t, name), r in results.items() if t == task}
        for reference in (b for b in BASELINES if b in by_model):
            table = compare(by_model, reference, seed=seed)
            if len(table):
                frames.append(table.assign(task=task))
    if not frames:
        return pd.DataFrame()
    table = pd.concat(frames, ignore_index=True)
    return table[["task", *[c for c in table.columns if c != "task"]]]


def evaluate_descriptions(texts: list[str], records: list[Record], retrieval, model_name: str,
                          seed: int = 0) -> pd.DataFrame:
    """pose2text: how well descriptions ``texts`` (one per record, e.g. the model's answers)
    single out the record's input pose. The retrieval model ranks the true pose among 32 (the
    "pool of 32" protocol, 10 draws) and among all records ("full"): R@1/5/10 text -> pose and
    pose -> text, mRecall. One row per protocol."""

    if len(texts) != len(records) or len(records) < 32:
        raise ValueError(f"need one description per record and at least 32 records, got {len(texts)} and {len(records)}")
    poses = torch.stack([r.inputs()[0] for r in records])
    with torch.no_grad():
        text = retrieval.encode_text(get_text_encoder().encode(list(texts)))
        pose = retrieval.encode_pose(poses)
    base = {"task": "pose2text", "model": model_name, "samples": len(records), "seed": seed}
    pool = recall_at_k(text, pose, protocol="pool", generator=torch.Generator().manual_seed(seed))
    return pd.DataFrame([{**base, "protocol": "retrieval, full", **recall_at_k(text, pose).as_row()},
                         {**base, "protocol": "retrieval, pool of 32", **pool.as_row()}])


def _pose_metrics(body, pred: torch.Tensor, target: torch.Tensor, batch: int = 256) -> dict[str, torch.Tensor]:
    out: dict[str, list[torch.Tensor]] = {k: [] for k in ("MPJPE", "PA-MPJPE", "MPVPE", "MPJRE", "posecode_F1")}
    with torch.no_grad():
        for start in range(0, len(pred), batch):
            p, t = pred[start:start + batch], target[start:start + batch]
            bp, bt = body(p[:, 0], p[:, 1:]), body(t[:, 0], t[:, 1:])
            out["MPJPE"].append(mpjpe(bp.joints, bt.joints))
            out["PA-MPJPE"].append(pa_mpjpe(bp.joints, bt.joints))
            out["MPVPE"].append(mpvpe(bp.vertices, bt.vertices, bp.joints[:, 0], bt.joints[:, 0]))
            out["MPJRE"].append(mpjre(p, t))
            out["posecode_F1"].append(posecode_agreement(bp.joints, bt.joints, bp.rotmats, bt.rotmats).f1 * 100)
    return {k: torch.cat(v) for k, v in out.items()}


def evaluate(model, task: str, records: list[Record], root: Path, body=None, retrieval=None, seed: int = 0,
             model_name: str | None = None) -> EvalResult:
    """Measure a fitted model on ``records`` of ``task`` (images read from ``root``)."""

    if task not in EVAL_TASKS:
        raise ValueError(f"task must be one of {EVAL_TASKS}, got {task!r}")
    if not records:
        raise ValueError(f"no records to evaluate for {task}")
    body = body or load_body_model()
    start = time.time()
    pred = model.predict(records, root)
    seconds = time.time() - start
    target = torch.stack([r.targets()[0] for r in records])
    if pred.shape != target.shape:
        raise ValueError(f"model returned {tuple(pred.shape)}, expected {tuple(target.shape)}")
    metrics = _pose_metrics(body, pred, target)
    if not isinstance(model, PosePredictor):
        raise TypeError(f"{type(model).__name__} is not a pose model: it needs a name and "
                        "predict(records, root) -> (N, 24, 3)")
    name = model_name or model.name
    per_sample = pd.DataFrame({"id": [r.id for r in records], **{k: v.numpy() for k, v in metrics.items()},
                               "subset": [subset_of(r) for r in records], "query": [query_text(r) for r in records]})
    base = {"task": task, "model": name, **{k: float(v.mean()) for k, v in metrics.items()},
            "spread": float(pose_spread(pred).mean()),
            "samples": len(records), "seed": seed, "seconds": round(seconds, 2)}
    rows = [{**base, "protocol": "pose metrics"}]
    if task in TEXT_TASKS and retrieval is not None:

        with torch.no_grad():
            text = retrieval.encode_text(get_text_encoder().encode([query_text(r) for r in records]))
            poses = retrieval.encode_pose(pred)
        rows = [{**base, "protocol": "retrieval, full", **recall_at_k(text, poses).as_row()}]
        if len(records) >= 32:
            pool = recall_at_k(text, poses, protocol="pool", generator=torch.Generator().manual_seed(seed))
            rows.append({**base, "protocol": "retrieval, pool of 32", **pool.as_row()})
    columns = ["task", "model", "protocol", "MPJPE", "PA-MPJPE", "MPVPE", "MPJRE", "posecode_F1", "spread",
               "t2p_R@1", "t2p_R@5", "t2p_R@10", "p2t_R@1", "p2t_R@5", "p2t_R@10", "mRecall", "samples", "seed", "seconds"]
    summary = pd.DataFrame(rows).reindex(columns=columns)
    return EvalResult(summary, per_sample, pred, target)


def validation(config) -> Callable[[object, int], list[dict]]:
    """The periodic evaluation of a ChatPose training run (``config``: its
    :class:`posekit.models.chatpose.training.TrainConfig`): ``validate(model, step)`` -> one row per task
    of ``config.eval_tasks`` (MPJPE, PA-MPJPE, posecode F1 on the first ``config.eval_limit`` validation
    records). Passed to :func:`posekit.models.chatpose.training.train` as ``validate=``."""
    root = Path(config.dataset) if Path(config.dataset).is_dir() else dataset_dir(config.dataset)

    def validate(model, step: int) -> list[dict]:
        rows = []
        for task in config.eval_tasks:
            records = load_records(task, "val", root=root)[:config.eval_limit]
            if records:
                summary = evaluate(model, task, records, root, model_name="chatpose").summary
                rows.append({"step": step, "task": task,
                             **summary.iloc[0][["MPJPE", "PA-MPJPE", "posecode_F1"]].to_dict()})
        return rows

    return validate


MODELS = MODEL_NAMES
"""Model names for :func:`evaluate_model` and ``posekit eval``: the baselines and the trained ChatPose."""


def _load_chatpose(checkpoint, dtype) -> PoseModel:
    return load_chatpose(checkpoint, dtype=dtype)


def _load_decoder(checkpoint, dtype) -> PoseModel:
    if checkpoint is None:
        raise ValueError("the decoder model needs its file: --checkpoint FILE (checkpoint= in Python), written by "
                         "`posekit train-decoder`")
    return load_decoder(checkpoint)


TRAINED_MODELS = {"chatpose": _load_chatpose, "decoder": _load_decoder}
"""Models that are loaded from a checkpoint instead of fitted on the training split."""


def evenly(records: list[Record], limit: int | None) -> list[Record]:
    """At most ``limit`` records spread evenly over the list (test files are ordered by source pose,
    so the first N would cover few poses)."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be >= 1 (or None for every record), got {limit}")
    if limit is None or limit >= len(records):
        return list(records)
    step = len(records) / limit
    return [records[int(k * step)] for k in range(limit)]


def evaluate_model(name: str, task: str, dataset: str = "default", split: str = "test", limit: int | None = None,
                   root: Path | None = None, retrieval="default", body=None, write_csv: bool = True,
                   checkpoint: str | Path | None = None, model=None, dtype: str | None = None,
                   train_limit: int | None = None) -> EvalResult:
    """Evaluate model ``name`` on ``split`` of ``task`` (``limit``: that many records, spread evenly).

    Baselines are fitted on the training split first (``train_limit``: on that many of its records,
    spread evenly: a quick measurement); ``"chatpose"`` is the trained model from
    ``checkpoint`` (default: the shipped one; ``dtype`` as in :meth:`posekit.models.chatpose.ChatPose.set_dtype`),
    or ``model`` when given (loaded once by the caller)."""

    root = Path(root) if root is not None else dataset_dir(dataset)
    test = evenly(load_records(task, split, root=root), limit)
    if name in TRAINED_MODELS:
        model = model if model is not None else TRAINED_MODELS[name](checkpoint, dtype)
    else:
        train = load_records(task, "train", root=root)
        if task == "rpe" and name == "regressor":  # the image regressor learns from single-person images
            train = load_records("image2pose", "train", root=root)
        model = make_baseline(name, task).fit(evenly(train, train_limit), root)
    if retrieval == "default":
        retrieval = load_retrieval() if task in TEXT_TASKS else None
    result = evaluate(model, task, test, root, body=body, retrieval=retrieval, model_name=name)
    if isinstance(model, GenerativePoseModel):
        result.summary["missing_poses"] = model.missing_poses
    if write_csv:
        out = reports_dir() / "eval"
        out.mkdir(parents=True, exist_ok=True)
        result.summary.to_csv(out / f"{task}_{name}.csv", index=False)
    return result


def plot_results(per_sample: dict[str, pd.DataFrame], metric: str = "MPJPE", title: str | None = None):
    """Box plots (all samples shown) of one metric for several models: ``{model name: per_sample}``."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for name, frame in per_sample.items():
        fig.add_trace(go.Box(y=frame[metric], name=name, boxpoints="all", jitter=0.4, pointpos=0, marker=dict(size=3),
                             boxmean=True, hovertext=frame["query"].str.slice(0, 80)))
    fig.update_layout(title=title or metric, yaxis_title=metric, height=420, showlegend=False)
    return fig


def benchmark(tasks=EVAL_TASKS, models=MODELS, dataset: str = "default", split: str = "test", limit: int | None = None,
              root: Path | None = None, checkpoint: str | Path | None = None, chatpose=None, body=None,
              write_csv: bool = False, dtype: str | None = None,
              train_limit: int | None = None) -> tuple[pd.DataFrame, dict[tuple[str, str], EvalResult]]:
    """Every applicable (task, model) pair on the same records: ``(table, results)`` (``train_limit``:
    baselines fitted on that many training records, spread evenly).

    ``table`` stacks the summaries (pose metrics, plus retrieval rows on text tasks); ``results``
    maps ``(task, model)`` to its :class:`EvalResult`. Trained models (ChatPose, a decoder from
    ``checkpoint``) are loaded once."""

    body = body or load_body_model()
    trained = {name: TRAINED_MODELS[name](checkpoint, dtype) for name in models
               if name in TRAINED_MODELS and not (name == "chatpose" and chatpose is not None)}
    if chatpose is not None:
        trained["chatpose"] = chatpose
    results = {}
    for task in tasks:
        for name in models:
            if (name == "copy" and task != "edit") or (name in TEXT_QUERY_BASELINES and task in IMAGE_TASKS):
                continue
            results[(task, name)] = evaluate_model(name, task, dataset=dataset, split=split, limit=limit, root=root,
                                                   body=body, write_csv=write_csv, model=trained.get(name),
                                                   train_limit=train_limit)
    table = pd.concat([r.summary for r in results.values()], ignore_index=True)
    return table, results


def pose_table(table: pd.DataFrame, metrics=("PA-MPJPE", "MPJPE", "posecode_F1", "spread")) -> pd.DataFrame:
    """One row per model, one column per (metric, task): the pose-metric rows of a benchmark table
    (metrics the table lacks, e.g. ``spread`` in tables written before it existed, are left out)."""
    rows = table[table.protocol.isin(["pose metrics", "retrieval, full"])]
    return rows.pivot_table(index="model", columns="task", values=[m for m in metrics if m in rows.columns]).round(1)


def retrieval_table(table: pd.DataFrame, metric: str = "mRecall") -> pd.DataFrame:
    """One row per model, one column per (task, protocol): the retrieval rows of a benchmark table
    (does the retrieval model find the query's description for the predicted pose?)."""
    rows = table[table.protocol.str.startswith("retrieval")]
    return rows.pivot_table(index="model", columns=["task", "protocol"], values=metric).round(1)


