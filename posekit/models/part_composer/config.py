"""The part composer's settings (saved in its file) and file name: plain values, no torch, so that the
command line reads its defaults from here."""
from __future__ import annotations

import dataclasses

from posekit.configs import check_field_types

__all__ = ["PartComposerConfig", "COMPOSER_FILE", "PROPOSALS", "UNASKED"]

COMPOSER_FILE = "part_composer.pt"
"""The composer's file inside a ChatPose checkpoint folder (loaded with it when present)."""
PROPOSALS = ("recalled", "regressed")
UNASKED = ("decoder", "rest")


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
    unasked: str = "decoder"
    """Where a new pose's joints come from that no clause sets, when no clause sets the posture or a
    leg ("raise both arms above your head"): the decoder's answer ("decoder") or standing ("rest")."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if not 0 < self.threshold < 1 or self.hidden < 1 or self.epochs < 1 or self.phrases < 0 or self.lr <= 0:
            raise ValueError(f"PartComposerConfig: threshold in (0, 1), hidden and epochs >= 1, phrases >= 0 and "
                             f"lr > 0 are needed, got {self}")
        if self.unasked not in UNASKED:
            raise ValueError(f"PartComposerConfig.unasked must be one of {UNASKED}, got {self.unasked!r}")
        if self.proposal not in PROPOSALS or self.recall_k < 1:
            raise ValueError(f"PartComposerConfig.proposal must be one of {PROPOSALS} and recall_k >= 1, got "
                             f"{self.proposal!r}, {self.recall_k}")
