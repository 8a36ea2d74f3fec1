"""Task datasets built from posekit's pose corpus: text2pose, pose2text, spg, image2pose, rpe,
edit and chat conversations.

One module per job: :mod:`~posekit.datasets.records` (the conversation record and its JSONL
files), :mod:`~posekit.datasets.config` (what a build is made of), :mod:`~posekit.datasets.tasks`
(the per-task builders), :mod:`~posekit.datasets.questions` (yes/no turns),
:mod:`~posekit.datasets.rendering` (images in worker processes), :mod:`~posekit.datasets.build`
(the whole build, atomic), :mod:`~posekit.datasets.store` (reading and verifying a built dataset),
:mod:`~posekit.datasets.augmentation` (training-time variants) and
:mod:`~posekit.datasets.formats` (AMASS, PoseScript, 4D-Humans / BEDLAM files).

    from posekit.datasets import DatasetConfig, ensure_dataset, load_records
"""
from posekit.datasets.augmentation import (
    INSTRUCTION_START,
    RECAPTION_STYLES,
    describe_then_pose,
    extra_edit_pairs,
    recaptioned,
)
from posekit.datasets.build import build_dataset, ensure_dataset
from posekit.datasets.config import DatasetConfig, DatasetError, dataset_dir
from posekit.datasets.questions import chat_turns
from posekit.datasets.records import IMAGE_TASKS, POSE_TASKS, TASKS, Record, read_jsonl, write_jsonl
from posekit.datasets.rendering import SceneRenderer, default_workers
from posekit.datasets.store import DatasetCheck, load_records, verify_dataset
from posekit.datasets.tasks import load_spg_descriptions

__all__ = ["DatasetConfig", "DatasetError", "dataset_dir", "build_dataset", "ensure_dataset", "load_records",
           "verify_dataset", "DatasetCheck", "describe_then_pose", "recaptioned", "extra_edit_pairs",
           "RECAPTION_STYLES", "INSTRUCTION_START", "chat_turns", "SceneRenderer", "default_workers",
           "load_spg_descriptions", "Record", "read_jsonl", "write_jsonl", "TASKS", "IMAGE_TASKS", "POSE_TASKS"]
