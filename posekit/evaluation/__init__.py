"""Evaluation: pose and retrieval metrics with intervals (:mod:`~posekit.evaluation.metrics`) and the
benchmarks that run models on a task's test split (:mod:`~posekit.evaluation.benchmark`)."""
