"""Findings in words, generated from the measurements: the sentences a notebook writes about its own
tables (which model is better, by how much, with what interval), so that its text cannot contradict
its numbers."""
from __future__ import annotations

import pandas as pd

__all__ = ["LOWER_IS_BETTER", "DISPLAY_NAMES", "comparison_sentence", "comparison_sentences", "best_model_sentence",
           "key_comparisons"]

LOWER_IS_BETTER = ("MPJPE", "PA-MPJPE", "MPVPE", "MPJRE")
"""Metrics where a lower value is better (errors in mm or degrees); the others (F1, recall) are higher-better."""
DISPLAY_NAMES = {"chatpose": "ChatPose", "mean": "the mean pose", "nearest": "the nearest neighbour",
                 "soft-nearest": "the soft nearest neighbours", "regressor": "the regressor", "copy": "the input pose",
                 "decoder": "the decoder", "label-nearest": "the label look-up"}
"""How the findings name each model."""
_UNITS = {"PA-MPJPE": " mm", "MPJPE": " mm", "MPVPE": " mm", "MPJRE": "°", "posecode_F1": " points"}
_METRIC_NAMES = {"posecode_F1": "posecode F1"}


def _name(model: str) -> str:
    return DISPLAY_NAMES.get(model, model)


def comparison_sentence(row) -> str:
    """One row of :func:`posekit.evaluation.benchmark.compare` in words: which of the two is better on
    the metric (or that they are level), both values, and the difference ``model - reference`` with
    its paired-bootstrap 95 % interval."""
    metric, unit = _METRIC_NAMES.get(row.metric, row.metric), _UNITS.get(row.metric, "")
    model, reference = _name(row.model), _name(row.reference)
    subset = "" if row.subset == "all" else f" ({row.subset})"
    values = (f"{row.model_value:.1f} for {model}, {row.reference_value:.1f} for {reference}, difference "
              f"{row.difference:+.1f}{unit} [{row.ci_low:+.1f}, {row.ci_high:+.1f}]")
    if row.verdict == "within noise":
        return f"{_capital(model)} and {reference} are level on {metric}{subset} ({values}: the interval includes zero)."
    winner, loser = (model, reference) if row.verdict == "better" else (reference, model)
    return f"{_capital(winner)} is better than {loser} on {metric}{subset} ({values})."


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def comparison_sentences(comparisons: pd.DataFrame, model: str = "chatpose", subset: str | None = "all") -> list[str]:
    """:func:`comparison_sentence` for each of ``model``'s rows (``subset``: only that subset; None: all)."""
    rows = comparisons[comparisons.model == model]
    if subset is not None:
        rows = rows[rows.subset == subset]
    prefix = "task" in rows.columns and rows.task.nunique() > 1
    return [(f"{row.task}: " if prefix else "") + comparison_sentence(row) for row in rows.itertuples()]


def best_model_sentence(table: pd.DataFrame, task: str, metric: str = "PA-MPJPE") -> str:
    """Which model has the best mean ``metric`` on ``task`` in a benchmark table (pose-metric rows),
    and the runner-up."""
    rows = table[(table.task == task) & table.protocol.isin(["pose metrics", "retrieval, full"])]
    if rows.empty or metric not in rows.columns:
        raise ValueError(f"no {metric} rows for task {task!r} in the table")
    ranked = rows.drop_duplicates("model").sort_values(metric, ascending=metric in LOWER_IS_BETTER)
    first, second = ranked.iloc[0], ranked.iloc[1] if len(ranked) > 1 else None
    text = f"On {task}, the best {_METRIC_NAMES.get(metric, metric)} is {_name(first.model)}'s ({first[metric]:.1f})"
    if second is not None:
        text += f", then {_name(second.model)}'s ({second[metric]:.1f})"
    return text + "."


def key_comparisons(comparisons: pd.DataFrame, model: str = "chatpose") -> pd.DataFrame:
    """The rows that matter, chosen by rule: ``model`` against every baseline on every task, all
    records (no subsets), each metric; sorted by task and reference."""
    rows = comparisons[(comparisons.model == model) & (comparisons.subset == "all")]
    columns = [c for c in ("task", "reference", "metric", "model_value", "reference_value", "difference", "ci_low",
                           "ci_high", "verdict") if c in rows.columns]
    return rows[columns].round(1).reset_index(drop=True)
