"""The part composer's network, its phrase memory and the composition of a request's clauses
(:class:`PartComposer`)."""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch
from torch import nn

from posekit.body.parameters import mirror_rotvec
from posekit.body.parts import PART_JOINTS
from posekit.body.rotations import rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rot6d
from posekit.body.skeleton import JOINT_INDEX, NUM_JOINTS
from posekit.corpus.library import canonical_poses
from posekit.encoders.text import TEXT_DIM, get_text_encoder
from posekit.files import atomic_path, first_bad_tensor, read_torch_file
from posekit.language.clauses import clause_side, is_negated, split_clauses
from posekit.models.part_composer.config import PartComposerConfig

__all__ = ["PartComposer", "number_features", "NUMBER_FEATURES"]

NUMBER_FEATURES = 3
_POSTURE_AND_LEGS = [j for part in ("posture", "left_leg", "right_leg") for j in PART_JOINTS[part]]
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


def number_features(texts: list[str]) -> torch.Tensor:
    """``(N, 3)``: the first number a text names / 180, whether it names one, whether it says
    "right angle" or "ninety": what a sentence embedding blurs."""
    out = torch.zeros(len(texts), NUMBER_FEATURES)
    for k, text in enumerate(texts):
        found = _NUMBER.search(text)
        if found:
            out[k, 0], out[k, 1] = min(float(found.group(1)), 360.0) / 180.0, 1.0
        low = text.lower()
        out[k, 2] = float("right angle" in low or "ninety" in low)
    return out


class PartComposer(nn.Module):
    """Clause embeddings ``(B, 384)`` + number features ``(B, 3)`` -> which joints the clause sets
    (logits ``(B, 24)``) and every joint's local rotation ``(B, 24, 3, 3)``."""

    def __init__(self, config: PartComposerConfig = PartComposerConfig(), rest: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        rest = canonical_poses(["standing"])["standing"] if rest is None else rest
        self.register_buffer("rest_6d", rotvec_to_rot6d(rest.reshape(NUM_JOINTS, 3)).float())  # (24, 6)
        self.trunk = nn.Sequential(nn.Linear(TEXT_DIM + NUMBER_FEATURES, config.hidden), nn.GELU(),
                                   nn.Linear(config.hidden, config.hidden), nn.GELU())
        self.sets = nn.Linear(config.hidden, NUM_JOINTS)
        self.rotation = nn.Linear(config.hidden, NUM_JOINTS * 6)
        nn.init.zeros_(self.rotation.weight)
        nn.init.zeros_(self.rotation.bias)
        self.set_memory(torch.zeros(0, TEXT_DIM), torch.zeros(0, NUMBER_FEATURES), torch.zeros(0, NUM_JOINTS, 3))

    def set_memory(self, keys: torch.Tensor, numbers: torch.Tensor, poses: torch.Tensor) -> None:
        """The phrase memory: MiniLM keys ``(M, 384)``, their :func:`number_features` ``(M, 3)`` and
        poses ``(M, 24, 3)`` axis-angle (keys and poses kept in float16, saved with the model)."""
        self.register_buffer("memory_keys", keys.to(torch.float16))
        self.register_buffer("memory_numbers", numbers.float())
        self.register_buffer("memory_poses", poses.to(torch.float16))
        self.register_buffer("memory_sides", torch.zeros(len(keys), dtype=torch.int8))

    def set_memory_sides(self, sides: torch.Tensor) -> None:
        """Each memory entry's side ``(M,)``: 1 left, -1 right, 0 neither
        (:func:`posekit.language.clauses.clause_side`); a recalled entry of the other side is mirrored."""
        self.memory_sides = sides.to(torch.int8)

    def recall(self, sentences: torch.Tensor, numbers: torch.Tensor, sides: torch.Tensor) -> torch.Tensor:
        """Each clause's memory pose ``(N, 24, 3)``: among the ``recall_k`` entries nearest by
        meaning, the best after a penalty for the distance between their numbers; an entry of the
        other side than the clause's (``sides`` ``(N,)``, :func:`clause_side`) comes mirrored (a
        sentence embedding barely tells "left" from "right")."""
        if not len(self.memory_keys):
            raise ValueError("the part composer has no phrase memory: train it with train_part_composer")
        sims = sentences @ self.memory_keys.float().T  # (N, M)
        top = sims.topk(min(self.config.recall_k, sims.shape[1]), dim=1)
        theirs = self.memory_numbers[top.indices]  # (N, k, 3)
        both = numbers[:, None, 1] * theirs[..., 1]
        one = (numbers[:, None, 1] - theirs[..., 1]).abs()
        penalty = self.config.number_weight * (both * (numbers[:, None, 0] - theirs[..., 0]).abs() + 0.1 * one)
        best = top.indices.gather(1, (top.values - penalty).argmax(1, keepdim=True))[:, 0]
        poses = self.memory_poses[best].float()  # (N, 24, 3)
        other = (sides != 0) & (self.memory_sides[best].to(sides) == -sides)
        if other.any():
            poses[other] = mirror_rotvec(poses[other])
        return poses

    def forward(self, sentences: torch.Tensor, numbers: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        h = self.trunk(torch.cat([sentences, numbers], -1))  # (B, hidden)
        six = self.rest_6d + self.rotation(h).reshape(-1, NUM_JOINTS, 6)  # (B, 24, 6)
        return self.sets(h), rot6d_to_rotmat(six)  # (B, 24), (B, 24, 3, 3)

    @torch.no_grad()
    def clauses(self, texts: list[str]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each text read as one clause: the probability that it sets each joint ``(N, 24)`` and
        its proposed pose ``(N, 24, 3)`` axis-angle."""
        if not texts:
            return torch.zeros(0, NUM_JOINTS), torch.zeros(0, NUM_JOINTS, 3)
        sentences, numbers = get_text_encoder().encode(texts), number_features(texts)
        logits, rotmats = self(sentences, numbers)
        sides = torch.tensor([clause_side(t) for t in texts])
        proposals = (self.recall(sentences, numbers, sides) if self.config.proposal == "recalled"
                     else rotmat_to_rotvec(rotmats))
        return torch.sigmoid(logits), proposals

    @torch.no_grad()
    def compose(self, texts: list[str], bases: torch.Tensor, edits: list[bool] | None = None) -> torch.Tensor:
        """Each request's answer ``(N, 24, 3)``: ``bases[k]`` ``(24, 3)`` (the decoder's answer, or an
        edit's given pose) with each clause's rotations on the joints it sets (see the module)."""
        return self.compose_where(texts, bases, edits)[0]

    @torch.no_grad()
    def compose_where(self, texts: list[str], bases: torch.Tensor,
                      edits: list[bool] | None = None) -> tuple[torch.Tensor, list[bool]]:
        """:meth:`compose`, and for each request whether the composer set any joint (False: the
        request is left to the decoder: a whole-body clause, more than ``max_clauses`` clauses, or
        nothing but negated clauses)."""
        edits = edits if edits is not None else [False] * len(texts)
        pieces = [split_clauses(t) for t in texts]
        sets, proposals = self.clauses([c for cs in pieces for c in cs])
        out, acted, k = [], [], 0
        for n, cs in enumerate(pieces):
            pose = bases[n].clone()
            chosen = sets[k:k + len(cs)] >= self.config.threshold  # (C, 24)
            for side in ("left", "right"):  # an arm set at the shoulder takes its forearm along unless told apart
                shoulder, forearm = JOINT_INDEX[f"{side}_shoulder"], list(PART_JOINTS[f"{side}_arm"][2:])
                along = chosen[:, shoulder, None] & (sets[k:k + len(cs), forearm] >= self.config.threshold / 2)
                chosen[:, forearm] |= along
            whole = len(cs) == 1 and int(chosen[0].sum()) >= self.config.whole_body and not edits[n]
            did = False
            if not whole and len(cs) <= self.config.max_clauses:
                acting = [c for c in range(len(cs)) if not is_negated(cs[c]) and chosen[c].any()]  # "not": nothing
                if (acting and not edits[n] and self.config.unasked == "rest"
                        and not chosen[acting][:, _POSTURE_AND_LEGS].any()):
                    pose = rotmat_to_rotvec(rot6d_to_rotmat(self.rest_6d))  # (24, 3): the rest of the body stands
                for c in acting:
                    pose[chosen[c]] = proposals[k + c][chosen[c]]
                did = bool(acting)
            out.append(pose)
            acted.append(did)
            k += len(cs)
        return (torch.stack(out) if out else bases[:0].clone()), acted

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        with atomic_path(path) as tmp:
            torch.save({"config": dataclasses.asdict(self.config), "state": self.state_dict(), **(extra or {})}, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path) -> "PartComposer":
        saved = read_torch_file(path, what="part composer file")
        if not isinstance(saved, dict) or "config" not in saved or "state" not in saved:
            raise ValueError(f"{path} is not a part composer file: train one with `posekit train-composer`")
        known = {f.name for f in dataclasses.fields(PartComposerConfig)}
        unknown = sorted(set(saved["config"]) - known)
        if unknown:
            raise ValueError(f"{path}: unknown part composer settings {unknown}; known: {sorted(known)}")
        bad = first_bad_tensor(saved["state"])
        if bad:
            raise ValueError(f"{path} holds a bad tensor ({bad}): train the composer again")
        model = cls(PartComposerConfig(**saved["config"]))
        state = saved["state"]
        model.set_memory(state["memory_keys"], state["memory_numbers"], state["memory_poses"])
        model.set_memory_sides(state["memory_sides"])
        model.load_state_dict(state)
        return model.eval()
