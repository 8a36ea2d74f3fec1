"""The names of posekit's models as plain strings, read without importing the models (the command
line's choices come from here; ``tests/test_cli.py`` checks them against the registries that build
the models: :data:`posekit.models.baselines.BASELINES`, :data:`posekit.evaluation.benchmark.MODELS`)."""
from __future__ import annotations

__all__ = ["BASELINE_NAMES", "TEXT_QUERY_BASELINES", "MODEL_NAMES"]

BASELINE_NAMES = ("mean", "nearest", "soft-nearest", "label-nearest", "part-nearest", "regressor", "copy")
"""Baselines fitted on a task's training split, in report order; ``regressor`` is the text or image
regressor depending on the task."""
TEXT_QUERY_BASELINES = ("nearest", "soft-nearest", "label-nearest", "part-nearest")
"""Baselines that read only the query's text (none for the image tasks)."""
MODEL_NAMES = (*BASELINE_NAMES, "chatpose")
"""Models ``posekit eval --model`` scores: the baselines and the trained ChatPose."""
