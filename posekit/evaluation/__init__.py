"""Evaluation: pose and retrieval metrics with intervals (:mod:`~posekit.evaluation.metrics`), the
text-pose retrieval model that ranks descriptions (:mod:`~posekit.evaluation.retrieval`) and the
benchmarks that run models on a task's test split (:mod:`~posekit.evaluation.benchmark`)."""
