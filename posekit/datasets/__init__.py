"""Task datasets built from posekit's pose corpus: text2pose, pose2text, spg, image2pose, rpe,
edit and chat conversations.

One module per job: :mod:`~posekit.datasets.records` (the conversation record and its JSONL
files), :mod:`~posekit.datasets.config` (what a build is made of), :mod:`~posekit.datasets.tasks`
(the per-task builders), :mod:`~posekit.datasets.questions` (yes/no turns),
:mod:`~posekit.datasets.rendering` (images in worker processes), :mod:`~posekit.datasets.build`
(the whole build, atomic), :mod:`~posekit.datasets.store` (reading and verifying a built dataset),
:mod:`~posekit.datasets.augmentation` (training-time variants); the readers of AMASS, PoseScript and
4D-Humans / BEDLAM files are :mod:`posekit.corpus.formats`.

    from posekit.datasets import DatasetConfig, ensure_dataset, load_records
"""
from posekit.lazy import lazy_exports

# names come from their modules when first used: reading one light module (a config) stays light
__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "augmentation": ("INSTRUCTION_START", "RECAPTION_STYLES", "describe_then_pose", "extra_edit_pairs", "recaptioned",),
    "build": ("build_dataset", "ensure_dataset",),
    "config": ("DatasetConfig", "DatasetError", "dataset_dir",),
    "questions": ("chat_turns",),
    "records": ("IMAGE_TASKS", "POSE_TASKS", "TASKS", "Record", "read_jsonl", "write_jsonl",),
    "rendering": ("SceneRenderer", "default_workers",),
    "store": ("DatasetCheck", "load_records", "verify_dataset",),
    "tasks": ("load_spg_descriptions",),
})
