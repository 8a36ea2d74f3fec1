"""A body in five parts, and poses composed from the parts of others.

SMPL's joint rotations are local (each relative to its parent), so a part's rotations carry its
shape to another body: the arms of "hands on hips" on the legs and torso of "squatting" give a
squat with the hands on the hips. The posture part is the pelvis's rotation, the body's global
orientation (upright, lying on a side, upside down).

    pose = compose_pose(canonical["squatting"], {"left_arm": canonical["hands on hips"][...]})
    part_of_joint("left_elbow")                                   # "left_arm"
"""
from __future__ import annotations

import torch

from posekit.body.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS

__all__ = ["BODY_PARTS", "PART_JOINTS", "part_of_joint", "compose_pose", "part_mask"]

BODY_PARTS: tuple[str, ...] = ("posture", "left_leg", "right_leg", "torso", "left_arm", "right_arm", "head")
"""The parts a pose is composed from: the posture (the pelvis: the body's global orientation),
each leg (hip to foot), the torso (spine), each arm (collar bone to hand), the head (neck and
head)."""

PART_JOINTS: dict[str, tuple[int, ...]] = {
    "posture": (JOINT_INDEX["pelvis"],),
    "left_leg": tuple(JOINT_INDEX[n] for n in ("left_hip", "left_knee", "left_ankle", "left_foot")),
    "right_leg": tuple(JOINT_INDEX[n] for n in ("right_hip", "right_knee", "right_ankle", "right_foot")),
    "torso": tuple(JOINT_INDEX[n] for n in ("spine1", "spine2", "spine3")),
    "left_arm": tuple(JOINT_INDEX[n] for n in ("left_collar", "left_shoulder", "left_elbow", "left_wrist", "left_hand")),
    "right_arm": tuple(JOINT_INDEX[n] for n in ("right_collar", "right_shoulder", "right_elbow", "right_wrist",
                                                 "right_hand")),
    "head": tuple(JOINT_INDEX[n] for n in ("neck", "head")),
}
"""Joint indices of each part; every one of the 24 joints is in exactly one part."""

if sorted(i for joints in PART_JOINTS.values() for i in joints) != list(range(NUM_JOINTS)):
    raise RuntimeError("PART_JOINTS must cover each of the 24 joints once")  # a wrong edit of the table


def part_of_joint(name: str) -> str:
    """The part (:data:`BODY_PARTS`) that joint ``name`` belongs to."""
    index = JOINT_INDEX.get(name)
    if index is None:
        raise KeyError(f"unknown joint {name!r}; expected one of {', '.join(JOINT_NAMES)}")
    return next(part for part, joints in PART_JOINTS.items() if index in joints)


def part_mask(parts: list[str] | tuple[str, ...]) -> torch.Tensor:
    """``(24,)`` bool: the joints of ``parts``."""
    unknown = [p for p in parts if p not in PART_JOINTS]
    if unknown:
        raise ValueError(f"unknown body part(s) {unknown}; expected some of {', '.join(BODY_PARTS)}")
    mask = torch.zeros(NUM_JOINTS, dtype=torch.bool)
    for part in parts:
        mask[list(PART_JOINTS[part])] = True
    return mask


def compose_pose(base: torch.Tensor, donors: dict[str, torch.Tensor]) -> torch.Tensor:
    """``base`` ``(..., 24, 3)`` axis-angle with each part of ``donors`` (``{part: (..., 24, 3)}``)
    taken from its donor pose; returns a new tensor."""
    if base.shape[-2:] != (NUM_JOINTS, 3):
        raise ValueError(f"base must be (..., 24, 3) axis-angle, got {tuple(base.shape)}")
    out = base.clone()
    for part, donor in donors.items():
        if part not in PART_JOINTS:
            raise ValueError(f"unknown body part {part!r}; expected one of {', '.join(BODY_PARTS)}")
        if donor.shape[-2:] != (NUM_JOINTS, 3):
            raise ValueError(f"the {part} donor must be (..., 24, 3) axis-angle, got {tuple(donor.shape)}")
        index = list(PART_JOINTS[part])
        out[..., index, :] = donor[..., index, :].to(out)
    return out
