"""The part composer: a request's clauses, each setting the joints it speaks of.

The decoder answers a request with one body; "squat down with both arms reaching forward" asks for
two things, one per body part. The composer reads each clause of the request
(:func:`posekit.language.clauses.split_clauses`) on its own: from the clause's MiniLM embedding and
the numbers it names (degrees), a small network predicts which joints the clause sets (24
probabilities: "bend your right elbow to 90 degrees" sets the right forearm only); the rotations
come from the clause's nearest entry of a phrase memory (the canonical poses' labels and drawn part
phrases with measured angles and heights; among the nearest by meaning, the one whose number is
nearest the clause's). The answer starts from the decoder's answer (a new pose) or from the given
pose (an edit) and each clause, in order, puts its rotations on the joints it sets. A single clause
that sets nearly the whole body ("kneel on one knee") is the decoder's: its answer stays.

Clauses combine into bodies that no stored pose holds, and the drawn phrases cover angles, heights
and amounts densely. A regressed rotation per joint (the network's own, ``proposal="regressed"``)
was measured too: it hedges between the poses a clause could mean (docs/model-design.md).

Trained (:func:`train_part_composer`) on the canonical poses' labels (names, who phrases,
situations, plain requests: the joints each one sets are those its words name, else those where
its pose differs from standing) and on drawn part phrases with measured angles and heights
(:func:`posekit.language.part_phrases.part_phrases`); a few minutes on 2 CPU cores.

    composer = train_part_composer(body, poses=train_poses)
    poses = composer.compose(texts, bases, edits)            # (N, 24, 3) axis-angle
"""
from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch
from torch import nn

from posekit.body.parameters import mirror_rotvec
from posekit.body.parts import PART_JOINTS
from posekit.body.rotations import rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rot6d, rotvec_to_rotmat
from posekit.body.skeleton import JOINT_INDEX, NUM_JOINTS
from posekit.configs import check_field_types
from posekit.corpus.library import canonical_poses
from posekit.datasets.plain import pose_labels
from posekit.encoders.text import TEXT_DIM, get_text_encoder
from posekit.files import atomic_path, first_bad_tensor, read_torch_file
from posekit.language.clauses import clause_parts, clause_side, is_negated, split_clauses
from posekit.language.part_phrases import part_phrases

__all__ = ["PartComposerConfig", "PartComposer", "train_part_composer", "composer_examples", "number_features",
           "COMPOSER_FILE"]

COMPOSER_FILE = "part_composer.pt"
"""The composer's file inside a ChatPose checkpoint folder (loaded with it when present)."""
NUMBER_FEATURES = 3
PROPOSALS = ("recalled", "regressed")
_NUMBER = re.compile(r"(\d+(?:\.\d+)?)")


@dataclasses.dataclass(frozen=True)
class PartComposerConfig:
    hidden: int = 512
    """Width of the network's two hidden layers."""
    epochs: int = 40
    lr: float = 1e-3
    batch_size: int = 256
    phrases: int = 8000
    """Drawn part phrases in the training set (besides the canonical poses' labels)."""
    threshold: float = 0.5
    """A clause sets a joint when its probability is at least this."""
    whole_body: int = 18
    """A request of one clause that sets at least this many joints is left to the decoder."""
    max_clauses: int = 3
    """A request of more clauses than this is left to the decoder: captions and PoseFix instructions
    of many sentences are what the decoder was trained on (chosen on the validation split: text2pose
    level at 1-3, docs/model-design.md)."""
    moved_degrees: float = 15.0
    """A label without body-part words sets the joints where its pose differs from standing by more."""
    seed: int = 0
    proposal: str = "recalled"
    """Where a clause's rotations come from: its nearest phrase-memory entry ("recalled") or the
    network's regression ("regressed")."""
    recall_k: int = 16
    """Entries nearest by meaning among which the number decides."""
    number_weight: float = 0.5
    """Score penalty per 180 degrees between the clause's number and an entry's."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if not 0 < self.threshold < 1 or self.hidden < 1 or self.epochs < 1 or self.phrases < 0 or self.lr <= 0:
            raise ValueError(f"PartComposerConfig: threshold in (0, 1), hidden and epochs >= 1, phrases >= 0 and "
                             f"lr > 0 are needed, got {self}")
        if self.proposal not in PROPOSALS or self.recall_k < 1:
            raise ValueError(f"PartComposerConfig.proposal must be one of {PROPOSALS} and recall_k >= 1, got "
                             f"{self.proposal!r}, {self.recall_k}")


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
                for c in range(len(cs)):
                    if not is_negated(cs[c]) and chosen[c].any():  # what not to do sets nothing
                        pose[chosen[c]] = proposals[k + c][chosen[c]]
                        did = True
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
