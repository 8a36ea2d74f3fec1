"""Training the part composer on the canonical poses' labels and drawn part phrases
(:func:`train_part_composer`)."""
from __future__ import annotations

import torch
from torch import nn

from posekit.body.parts import PART_JOINTS
from posekit.body.rotations import rotvec_to_rotmat
from posekit.body.skeleton import JOINT_INDEX, NUM_JOINTS
from posekit.corpus.library import canonical_poses
from posekit.datasets.plain import pose_labels
from posekit.encoders.text import get_text_encoder
from posekit.language.clauses import clause_parts, clause_side
from posekit.language.part_phrases import part_phrases
from posekit.models.part_composer.config import PartComposerConfig
from posekit.models.part_composer.model import PartComposer, number_features

__all__ = ["train_part_composer", "composer_examples"]


def _joint_mask(names: tuple[str, ...]) -> torch.Tensor:
    mask = torch.zeros(NUM_JOINTS, dtype=torch.bool)
    mask[[JOINT_INDEX[n] for n in names]] = True
    return mask


def composer_examples(body, poses: list[str] | None = None, config: PartComposerConfig = PartComposerConfig()
                      ) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Training clauses, their target poses ``(N, 24, 3)`` and the joints each sets ``(N, 24)`` bool:
    the labels of the canonical ``poses`` (all when None) and ``config.phrases`` drawn part phrases."""
    labels = pose_labels(poses, plain=True)
    table = canonical_poses(list(dict.fromkeys(p for _, p in labels)))
    rest = rotvec_to_rotmat(canonical_poses(["standing"])["standing"])  # (24, 3, 3)
    moved = {}
    for name, pose in table.items():
        cos = ((torch.einsum("jab,jab->j", rotvec_to_rotmat(pose), rest) - 1) / 2).clamp(-1, 1)
        moved[name] = torch.rad2deg(torch.arccos(cos)) > config.moved_degrees  # (24,)
    texts, targets, masks = [], [], []
    for text, name in labels:
        parts = clause_parts(text)
        mask = torch.zeros(NUM_JOINTS, dtype=torch.bool)
        for part in parts:
            mask[list(PART_JOINTS[part])] = True
        texts.append(text)
        targets.append(table[name])
        masks.append(mask if parts else moved[name])
    for phrase in part_phrases(body, config.phrases, seed=config.seed):
        texts.append(phrase.text)
        targets.append(phrase.pose)
        masks.append(_joint_mask(phrase.joints))
    return texts, torch.stack(targets), torch.stack(masks)


def train_part_composer(body, poses: list[str] | None = None, config: PartComposerConfig = PartComposerConfig(),
                        progress: bool = False) -> PartComposer:
    """A composer trained on :func:`composer_examples` (the canonical ``poses``' labels, all when
    None, and drawn part phrases): binary cross-entropy on the joints each clause sets plus an L1
    on the rotation matrices of those joints. Deterministic for a given ``config.seed``."""
    from tqdm.auto import trange

    torch.manual_seed(config.seed)
    texts, targets, masks = composer_examples(body, poses, config)
    sentences, numbers = get_text_encoder().encode(texts), number_features(texts)
    target_rotmats = rotvec_to_rotmat(targets)  # (N, 24, 3, 3)
    model = PartComposer(config)
    optimiser = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=1e-4)
    steps = config.epochs * ((len(texts) + config.batch_size - 1) // config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, config.lr, total_steps=steps)
    generator = torch.Generator().manual_seed(config.seed)
    model.train()
    for _ in trange(config.epochs, desc="part composer", disable=not progress):
        order = torch.randperm(len(texts), generator=generator)
        for start in range(0, len(texts), config.batch_size):
            rows = order[start:start + config.batch_size]
            logits, rotmats = model(sentences[rows], numbers[rows])
            mask = masks[rows]
            sets_loss = nn.functional.binary_cross_entropy_with_logits(logits, mask.float())
            error = (rotmats - target_rotmats[rows]).abs().sum((-1, -2))  # (B, 24)
            rotation_loss = (error * mask).sum() / mask.sum().clamp_min(1)
            loss = sets_loss + rotation_loss
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            schedule.step()
    model.set_memory(sentences, numbers, targets)
    model.set_memory_sides(torch.tensor([clause_side(t) for t in texts]))
    return model.eval()
