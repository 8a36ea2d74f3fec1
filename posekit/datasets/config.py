"""A dataset's configuration (saved in its manifest), where datasets live, and the dataset error."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from posekit.configs import check_field_types
from posekit.corpus.splits import SplitConfig
from posekit.corpus.variants import SamplerConfig
from posekit.paths import data_dir

__all__ = ["DatasetConfig", "dataset_dir", "DatasetError"]


@dataclasses.dataclass(frozen=True)
class DatasetConfig:
    """What to build. ``scale`` multiplies every count (GPU users: 5-20)."""

    name: str = "default"
    seed: int = 0
    scale: float = 1.0
    captions_per_pose: int = 2
    """text2pose records per corpus pose."""
    multi_pose_share: float = 0.1
    """Share of text2pose records that ask for two poses in one answer."""
    pose2text_per_pose: int = 1
    spg_targets_per_description: int = 2
    """Poses (the canonical one and variants of it) paired with each implicit description."""
    spg_test_description_share: float = 0.2
    """Descriptions of training poses held out for test."""
    image2pose_count: int = 4000
    """Single-person renders (about 70 % train): images are the scarcest data and cheap to render."""
    rpe_scenes: int = 3000
    """Multi-person scenes with a query (about 2,100 train, 600 test): enough that rpe numbers are not noise."""
    image2pose_train_extra: int = 8000
    """More single-person renders, all in the training split, drawn after everything else (so
    every other record, and every val and test record, is the same as without them): a decoder
    on the frozen image features trains better on more renders (measured in
    ``data/experiments/decoder_designs/README.md``)."""
    edit_pairs: int = 1500
    chat_count: int = 800
    image_size: int = 224
    sampler: SamplerConfig = SamplerConfig()
    splits: SplitConfig = SplitConfig()

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.scale <= 0:
            raise ValueError(f"scale must be > 0, got {self.scale}")
        if self.image2pose_train_extra < 0:
            raise ValueError(f"image2pose_train_extra must be >= 0, got {self.image2pose_train_extra}")
        if not 0 <= self.multi_pose_share <= 1 or not 0 <= self.spg_test_description_share < 1:
            raise ValueError("multi_pose_share must be in [0, 1] and spg_test_description_share in [0, 1)")

    @staticmethod
    def quick(name: str = "quick", seed: int = 0) -> "DatasetConfig":
        """A small dataset for notebooks and CI (about a minute on 2 cores)."""
        return DatasetConfig(name=name, seed=seed, scale=0.08, captions_per_pose=1, image2pose_count=2500, rpe_scenes=400,
                             image2pose_train_extra=0,
                             sampler=SamplerConfig(candidates_per_pose=12, keep_per_pose=4))

    @staticmethod
    def evaluation(name: str = "evaluation", seed: int = 0) -> "DatasetConfig":
        """What the report's quick mode evaluates on: the default dataset's text2pose, pose2text, spg,
        edit and chat records exactly (they are drawn before any image), and a quarter of its
        image2pose renders and rpe scenes, drawn from the same held-out test poses, without the extra
        training renders (:attr:`image2pose_train_extra`): built in about a minute instead of eight."""
        return DatasetConfig(name=name, seed=seed, image2pose_count=1000, rpe_scenes=750, image2pose_train_extra=0)

    def count(self, n: int) -> int:
        return max(1, int(round(n * self.scale)))

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


def dataset_dir(name: str = "default") -> Path:
    """``data/generated/<name>`` (``$POSEKIT_DATA/generated/<name>``)."""
    return data_dir() / "generated" / name


class DatasetError(ValueError):
    """A dataset folder is incomplete (no manifest: an interrupted build) or differs from its manifest."""
