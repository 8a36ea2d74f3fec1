"""A PoseScript-style contrastive text <-> pose retrieval model, used to score generated poses.

Text side: frozen all-MiniLM-L6-v2 sentence embeddings (384-d, :mod:`posekit.encoders.text`)
through a trainable two-layer projection. Pose side: an MLP over the 6D rotations of the 22
main joints. Both land L2-normalised in a shared space; training minimises the symmetric
InfoNCE loss with a learned temperature on (caption, pose) pairs of the training split.

The checkpoint (config included, ~2 MB) ships in ``data/checkpoints/retrieval.pt``; rebuild
it with ``posekit train-retrieval``.
"""
from __future__ import annotations

import dataclasses
import math
import os
import time
from pathlib import Path

import torch
from torch import nn

from posekit.body.rotations import rotvec_to_rot6d
from posekit.body.skeleton import NUM_MAIN_JOINTS, ROT6D_DIM
from posekit.configs import check_field_types
from posekit.encoders.text import TEXT_DIM
from posekit.evaluation.metrics import recall_at_k
from posekit.files import atomic_path, first_bad_tensor, read_torch_file
from posekit.paths import data_dir, resolve_file

__all__ = ["RetrievalConfig", "TextPoseRetrieval", "train_retrieval", "load_retrieval", "save_retrieval",
           "retrieval_pairs", "CHECKPOINT"]

CHECKPOINT = "retrieval.pt"


@dataclasses.dataclass(frozen=True)
class RetrievalConfig:
    """Architecture and training of the retrieval model (saved in the checkpoint)."""

    embed_dim: int = 256
    hidden: int = 512
    epochs: int = 60
    batch_size: int = 256
    lr: float = 2e-3
    weight_decay: float = 1e-4
    temperature: float = 0.07
    """Initial softmax temperature (learned)."""
    seed: int = 0

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.embed_dim < 8 or self.hidden < 8 or self.epochs < 1 or self.batch_size < 2:
            raise ValueError(f"invalid retrieval config: {self}")
        if not 0 < self.temperature < 1:
            raise ValueError(f"temperature must be in (0, 1), got {self.temperature}")


class TextPoseRetrieval(nn.Module):
    """Shared embedding space for captions and poses."""

    def __init__(self, config: RetrievalConfig = RetrievalConfig()):
        super().__init__()
        self.config = config
        d, h = config.embed_dim, config.hidden
        self.text_proj = nn.Sequential(nn.Linear(TEXT_DIM, h), nn.GELU(), nn.Linear(h, d))
        self.pose_encoder = nn.Sequential(
            nn.Linear(NUM_MAIN_JOINTS * ROT6D_DIM, h), nn.GELU(), nn.Dropout(0.1),
            nn.Linear(h, h), nn.GELU(), nn.Linear(h, d),
        )
        self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / config.temperature)))

    def encode_text(self, text_emb: torch.Tensor) -> torch.Tensor:
        """Sentence embeddings ``(N, 384)`` -> ``(N, D)`` unit vectors."""
        return nn.functional.normalize(self.text_proj(text_emb), dim=-1)

    def encode_pose(self, pose: torch.Tensor) -> torch.Tensor:
        """Axis-angle poses ``(N, 24, 3)`` (heading removed, as in the text tasks) -> ``(N, D)`` unit vectors."""
        feats = rotvec_to_rot6d(pose[:, :NUM_MAIN_JOINTS]).flatten(1)  # (N, 22 * 6)
        return nn.functional.normalize(self.pose_encoder(feats), dim=-1)

    def loss(self, text_emb: torch.Tensor, pose: torch.Tensor) -> torch.Tensor:
        t, p = self.encode_text(text_emb), self.encode_pose(pose)
        logits = self.log_scale.exp().clamp(max=100) * t @ p.T  # (B, B)
        target = torch.arange(len(t))
        return (nn.functional.cross_entropy(logits, target) + nn.functional.cross_entropy(logits.T, target)) / 2


def retrieval_pairs(records, unique_poses: bool = False) -> tuple[list[str], torch.Tensor]:
    """(captions, poses ``(N, 24, 3)``) from text2pose / pose2text records.

    A pose has several captions; ``unique_poses=True`` keeps the first caption of each pose,
    as retrieval evaluation needs (a duplicate pose would tie with the true match).
    """
    texts, poses, seen = [], [], set()
    for r in records:
        if r.task == "text2pose" and "caption" in r.meta:
            texts.append(r.meta["caption"])
            poses.append(r.targets()[0])
        elif r.task == "pose2text":
            texts.append(r.messages[-1]["content"])
            poses.append(r.inputs()[0])
    if unique_poses:
        keep = []
        for i, pose in enumerate(poses):
            key = pose.numpy().tobytes()
            if key not in seen:
                seen.add(key)
                keep.append(i)
        texts, poses = [texts[i] for i in keep], [poses[i] for i in keep]
    if not texts:
        raise ValueError("no (caption, pose) pairs: pass text2pose or pose2text records")
    return texts, torch.stack(poses)


def train_retrieval(train_texts: torch.Tensor, train_poses: torch.Tensor, config: RetrievalConfig = RetrievalConfig(),
                    val: tuple[torch.Tensor, torch.Tensor] | None = None, progress: bool = True):
    """Train on sentence embeddings ``(N, 384)`` and poses ``(N, 24, 3)``; returns the model and a
    history list of ``{"epoch", "loss", "val_mRecall"}``."""
    from tqdm.auto import tqdm

    torch.manual_seed(config.seed)
    gen = torch.Generator().manual_seed(config.seed)
    model = TextPoseRetrieval(config)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=config.epochs)
    history = []
    n = len(train_texts)
    for epoch in tqdm(range(config.epochs), desc="retrieval", disable=not progress):
        model.train()
        order = torch.randperm(n, generator=gen)
        total = 0.0
        for start in range(0, n - 1, config.batch_size):
            idx = order[start:start + config.batch_size]
            if len(idx) < 2:
                continue
            loss = model.loss(train_texts[idx], train_poses[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += float(loss.detach()) * len(idx)
        sched.step()
        entry = {"epoch": epoch + 1, "loss": total / n}
        if val is not None and ((epoch + 1) % 10 == 0 or epoch + 1 == config.epochs):
            model.eval()
            with torch.no_grad():
                scores = recall_at_k(model.encode_text(val[0]), model.encode_pose(val[1]))
            entry["val_mRecall"] = scores.mean_recall
        history.append(entry)
    model.eval()
    return model, history


def save_retrieval(model: TextPoseRetrieval, path: str | os.PathLike | None = None, meta: dict | None = None) -> Path:
    """Write the retrieval model to ``path`` (default: the shipped checkpoint's place), atomically: the
    old file stays whole until the new one is complete."""
    path = Path(path) if path is not None else data_dir() / "checkpoints" / CHECKPOINT
    with atomic_path(path) as tmp:
        torch.save({"config": dataclasses.asdict(model.config), "state_dict": model.state_dict(),
                    "meta": {**(meta or {}), "saved": time.strftime("%Y-%m-%d %H:%M:%S")}}, tmp)
    return path


def load_retrieval(path: str | os.PathLike | None = None) -> TextPoseRetrieval:
    """Load the retrieval model (default: the shipped checkpoint)."""
    file = resolve_file(CHECKPOINT, path=path, env_var="POSEKIT_CHECKPOINTS",
                        defaults=(data_dir() / "checkpoints",), what="retrieval checkpoint",
                        hint="train it with `posekit train-retrieval`")
    blob = read_torch_file(file, "retrieval checkpoint", map_location="cpu")
    bad = first_bad_tensor(blob.get("state_dict", {}))
    if bad:
        raise ValueError(f"retrieval checkpoint {file} holds bad weights ({bad}); train it again with "
                         "`posekit train-retrieval`")
    config = RetrievalConfig(**blob["config"])
    model = TextPoseRetrieval(config)
    model.load_state_dict(blob["state_dict"])
    model.meta = blob.get("meta", {})
    return model.eval()
