"""posekit's pose corpus: the canonical poses, their variants, and the train / val / test splits.

Splits are made twice, so that no test pose is ever seen in training:

1. **by canonical pose**: a seeded, category-stratified share of the canonical poses is held
   out entirely (``test`` with ``test_kind="unseen pose"``; their variants too), another
   share goes to ``val``;
2. **by variant**: of the remaining canonical poses, some variants are held out
   (``test`` with ``test_kind="seen pose"``); a held-out variant closer than
   ``min_test_distance`` (mean joint distance, metres) to any training variant of the same
   canonical pose is dropped rather than risk a near-duplicate.

Variants are sampled per split (:func:`posekit.corpus.variants.sample_variants`), so interpolations
never mix a training pose with a test pose.
"""
from __future__ import annotations

import dataclasses
import zlib

import numpy as np
import pandas as pd
import torch

from posekit.configs import check_field_types
from posekit.corpus.library import PoseEntry, load_pose_entries
from posekit.corpus.variants import PoseSet, SamplerConfig, sample_variants
from posekit.language.posecodes import normalize_joints

__all__ = ["SplitConfig", "PoseCorpus", "load_canonical", "split_canonical", "build_pose_corpus", "SPLITS"]

SPLITS = ("train", "val", "test")


def load_canonical() -> dict[str, PoseEntry]:
    """The canonical poses (``data/poses/canonical.json``)."""
    return load_pose_entries("canonical")


@dataclasses.dataclass(frozen=True)
class SplitConfig:
    """Shares of the corpus held out (saved with every dataset)."""

    unseen_test_share: float = 0.15
    """Share of canonical poses (per category) held out for test, with all their variants."""
    val_share: float = 0.10
    """Share of canonical poses (per category) for validation."""
    seen_test_share: float = 0.15
    """Share of the variants of training poses held out for test."""
    min_test_distance: float = 0.03
    """A held-out variant must be at least this far (m, mean over joints) from every training
    variant of its canonical pose."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if not 0 <= self.unseen_test_share + self.val_share < 1:
            raise ValueError(f"unseen_test_share + val_share must be in [0, 1), got "
                             f"{self.unseen_test_share} + {self.val_share}")
        if not 0 <= self.seen_test_share < 1:
            raise ValueError(f"seen_test_share must be in [0, 1), got {self.seen_test_share}")


def split_canonical(entries: dict[str, PoseEntry], config: SplitConfig = SplitConfig(), seed: int = 0) -> dict[str, str]:
    """Canonical pose -> ``"train"`` / ``"val"`` / ``"test"``, stratified by category, seeded."""
    out: dict[str, str] = {}
    categories = sorted({e.category for e in entries.values()})
    for category in categories:
        names = sorted(n for n, e in entries.items() if e.category == category)
        rng = np.random.default_rng([int(seed), zlib.crc32(category.encode())])
        order = [names[i] for i in rng.permutation(len(names))]
        n_test = int(round(config.unseen_test_share * len(names)))
        n_val = int(round(config.val_share * len(names)))
        for k, name in enumerate(order):
            out[name] = "test" if k < n_test else "val" if k < n_test + n_val else "train"
    return {name: out[name] for name in entries}


@dataclasses.dataclass(frozen=True)
class PoseCorpus:
    """Poses with provenance and split."""

    poses: PoseSet
    split: tuple[str, ...]
    """``"train"`` / ``"val"`` / ``"test"`` per pose."""
    test_kind: tuple[str, ...]
    """``"unseen pose"`` / ``"seen pose"`` for test poses, ``""`` otherwise."""
    entries: dict[str, PoseEntry]
    seed: int
    sampler: SamplerConfig
    splits: SplitConfig
    captions: tuple[tuple[str, ...], ...] = ()
    """Human-written captions per pose (PoseScript's, for an AMASS corpus: :mod:`posekit.corpus.amass`), or
    ``()``: every caption comes from posekit's captioner."""

    def __len__(self) -> int:
        return len(self.poses)

    def index(self, split: str) -> torch.Tensor:
        """Indices of the poses of ``split``."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        return torch.tensor([i for i, s in enumerate(self.split) if s == split], dtype=torch.long)

    def to_frame(self) -> pd.DataFrame:
        """One row per pose: source, category, support, kind, mirrored, split, test kind."""
        return pd.DataFrame({
            "source": self.poses.source,
            "category": [self.entries[s].category for s in self.poses.source],
            "support": [self.entries[s].support for s in self.poses.source],
            "kind": self.poses.kind, "partner": self.poses.partner, "mirrored": self.poses.mirrored.numpy(),
            "split": self.split, "test_kind": self.test_kind,
        })


def build_pose_corpus(body, seed: int = 0, sampler: SamplerConfig = SamplerConfig(),
                      splits: SplitConfig = SplitConfig(), entries: dict[str, PoseEntry] | None = None,
                      progress: bool = False) -> PoseCorpus:
    """Sample the variants of every canonical pose and assign splits (deterministic for a seed)."""
    entries = entries if entries is not None else load_canonical()
    canonical_split = split_canonical(entries, splits, seed)
    parts, split, test_kind = [], [], []
    for name in SPLITS:
        subset = {n: e for n, e in entries.items() if canonical_split[n] == name}
        if not subset:
            continue
        poses = sample_variants(subset, body, sampler, seed=seed, progress=progress)
        parts.append(poses)
        if name != "train":
            split += [name] * len(poses)
            test_kind += ["unseen pose" if name == "test" else ""] * len(poses)
            continue
        labels = _hold_out_variants(poses, body, splits, seed)
        split += labels
        test_kind += ["seen pose" if s == "test" else "" for s in labels]
    poses = PoseSet.concat(parts)
    keep = [i for i, s in enumerate(split) if s != "drop"]
    return PoseCorpus(poses.subset(keep), tuple(split[i] for i in keep), tuple(test_kind[i] for i in keep),
                      entries, seed, sampler, splits)


def _hold_out_variants(poses: PoseSet, body, config: SplitConfig, seed: int) -> list[str]:
    """Per canonical pose: a seeded share of its non-canonical variants -> ``test`` (or ``drop``
    when too close to a training variant), the rest (and the canonical pose) -> ``train``."""
    labels = ["train"] * len(poses)
    joints = normalize_joints(body(poses.global_orient, poses.body_pose, joints_only=True).joints.detach())
    for name in dict.fromkeys(poses.source):
        rows = [i for i, s in enumerate(poses.source) if s == name and poses.kind[i] != "canonical"]
        rng = np.random.default_rng([int(seed), zlib.crc32(name.encode()), 7])
        n_test = int(round(config.seen_test_share * len(rows)))
        if config.seen_test_share > 0 and len(rows) >= 3:
            n_test = max(n_test, 1)
        held = set(rng.choice(rows, size=n_test, replace=False).tolist()) if n_test else set()
        train_rows = [i for i in range(len(poses)) if poses.source[i] == name and i not in held]
        for i in held:
            dist = (joints[train_rows] - joints[i]).norm(dim=-1).mean(-1).min()
            labels[i] = "test" if float(dist) >= config.min_test_distance else "drop"
    return labels
