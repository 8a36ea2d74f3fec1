"""The language side of posekit: posecodes (rule-based measurements of a pose), captions
(PoseScript-style descriptions), pair instructions (PoseFix-style "how to go from A to B"),
and the phrasing they share.

    from posekit.language import Captioner, compute_posecodes, instruct
"""
from posekit.language.captioner import CaptionConfig, Captioner, caption
from posekit.language.paircodes import InstructionConfig, PairCode, instruct, paircodes, pose_instructions
from posekit.language.phrasing import PREDICATES, Fact, entity_phrase
from posekit.language.posecodes import (
    IGNORED,
    POSECODES,
    SUPER_POSECODES,
    Posecode,
    PosecodeResult,
    PosecodeSpec,
    compute_posecodes,
    normalize_joints,
    posecode_index,
    smpl_joints,
)

LANGUAGE_VERSION = 2
"""Version of the captions' rules: datasets built with another version are rebuilt
(:func:`posekit.datasets.ensure_dataset`). 2: PoseScript's hand / foot points, contact
distance, dead zones, twist, lean and level rules, and duplicate facts removed."""

__all__ = ["LANGUAGE_VERSION",
    "CaptionConfig", "Captioner", "caption", "InstructionConfig", "PairCode", "instruct", "paircodes",
    "pose_instructions", "PREDICATES",
    "Fact", "entity_phrase", "IGNORED", "POSECODES", "SUPER_POSECODES", "Posecode", "PosecodeResult", "PosecodeSpec",
    "compute_posecodes", "normalize_joints", "posecode_index", "smpl_joints",
]
