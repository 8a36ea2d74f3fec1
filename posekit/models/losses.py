"""The pose losses shared by the decoder and ChatPose's heads: rotation-matrix L1 (ChatPose's pose
loss) and an L1 on pelvis-relative joint positions through forward kinematics."""
from __future__ import annotations

import torch

from posekit.body.rotations import rot6d_to_rotmat, rotvec_to_rotmat

__all__ = ["pose_loss", "joint_loss", "joint_l1"]


def pose_loss(six_d: torch.Tensor, target: torch.Tensor, per_example: bool = False) -> torch.Tensor:
    """L1 between rotation matrices of 6D predictions ``(B, 24, 6)`` and axis-angle targets ``(B, 24, 3)``
    (ChatPose's pose loss): the mean, or ``(B,)`` with ``per_example``."""
    error = (rot6d_to_rotmat(six_d, validate=False) - rotvec_to_rotmat(target, validate=False)).abs()
    return error.flatten(1).mean(1) if per_example else error.mean()


def joint_l1(body, pred: torch.Tensor, target: torch.Tensor, per_example: bool = False) -> torch.Tensor:
    """L1 (metres) between pelvis-relative joints ``(B, 24, 3)`` of predicted and target poses, both
    ``(B, 24, 3, 3)`` rotation matrices or ``(B, 24, 3)`` axis-angle, through ``body``'s forward
    kinematics (joints only; no gradient through the target): the mean, or ``(B,)`` with ``per_example``."""
    joints = body(pred[:, 0], pred[:, 1:], joints_only=True, validate=False).joints
    with torch.no_grad():
        goal = body(target[:, 0], target[:, 1:], joints_only=True, validate=False).joints
    error = ((joints - joints[:, :1]) - (goal - goal[:, :1])).abs()
    return error.flatten(1).mean(1) if per_example else error.mean()


def joint_loss(body, six_d: torch.Tensor, target: torch.Tensor, per_example: bool = False) -> torch.Tensor:
    """:func:`joint_l1` of 6D predictions ``(B, 24, 6)`` against axis-angle targets ``(B, 24, 3)``."""
    return joint_l1(body, rot6d_to_rotmat(six_d, validate=False), target, per_example)
