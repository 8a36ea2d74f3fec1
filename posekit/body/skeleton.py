"""The SMPL 24-joint skeleton: names, parents, subsets and left/right symmetry.

These constants are shared by every body model posekit loads (its own open body and
the real SMPL / SMPL-H / SMPL-X files), so that joint indices mean the same thing
everywhere in the package.
"""
from __future__ import annotations

JOINT_NAMES: tuple[str, ...] = (
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee",
    "spine2", "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot",
    "neck", "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hand", "right_hand",
)
"""SMPL joint names, in SMPL order (index 0 is the root)."""

PARENTS: tuple[int, ...] = (
    -1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21,
)
"""Parent index of each joint (-1 for the root); parents always come before children."""

NUM_JOINTS = 24
"""Joints of the SMPL kinematic tree, global orientation included."""
NUM_BODY_JOINTS = 23
"""Joints driven by ``body_pose`` (all but the root)."""
NUM_MAIN_JOINTS = 22
"""Global + 21 body joints: the subset PoseScript / ChatPose metrics use (no hand joints)."""
MAIN_JOINTS: tuple[int, ...] = tuple(range(NUM_MAIN_JOINTS))
"""Indices of the 22 main joints (pelvis .. right_wrist)."""
ROTVEC_DIM = 3
ROT6D_DIM = 6
POSE_6D_DIM = NUM_JOINTS * ROT6D_DIM
"""144: the ChatPose pose-head output, 24 joints x 6D with the global orientation first."""
NUM_BETAS = 10
"""Shape components of the open body (and the usual SMPL truncation)."""

JOINT_INDEX: dict[str, int] = {name: i for i, name in enumerate(JOINT_NAMES)}


def _mirror_name(name: str) -> str:
    if name.startswith("left_"):
        return "right_" + name[len("left_"):]
    if name.startswith("right_"):
        return "left_" + name[len("right_"):]
    return name


MIRROR_PERMUTATION: tuple[int, ...] = tuple(JOINT_INDEX[_mirror_name(n)] for n in JOINT_NAMES)
"""``joints[..., MIRROR_PERMUTATION, :]`` swaps left and right joints."""


def joint_index(name: str) -> int:
    """Index of a joint by its SMPL name; raises ``KeyError`` listing the valid names."""
    try:
        return JOINT_INDEX[name]
    except KeyError:
        raise KeyError(f"unknown joint {name!r}; expected one of {', '.join(JOINT_NAMES)}") from None


def kinematic_levels(parents: tuple[int, ...] = PARENTS) -> list[list[int]]:
    """Group joints by depth in the tree: every joint of level k has its parent in level k-1.

    Forward kinematics can then process a whole level with one batched matmul.
    """
    depth: list[int] = []
    for j, p in enumerate(parents):
        if p >= j:
            raise ValueError(f"parents must come before children; joint {j} has parent {p}")
        depth.append(0 if p < 0 else depth[p] + 1)
    levels: list[list[int]] = [[] for _ in range(max(depth) + 1)]
    for j, d in enumerate(depth):
        levels[d].append(j)
    return levels
