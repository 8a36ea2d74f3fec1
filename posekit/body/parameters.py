"""SMPL pose parameters: checking, format detection, yaw normalisation, mirroring.

A pose is a global orientation ``(B, 3)`` plus a body pose ``(B, 23, 3)`` in axis-angle,
or the same joints as rotation matrices (``(B, 3, 3)`` / ``(B, 23, 3, 3)``) or in 6D
(``(B, 6)`` / ``(B, 23, 6)``, HMR2 / ChatPose layout). The format is read from the
trailing dimensions, which never collide; unbatched or flattened inputs are rejected
rather than guessed.
"""
from __future__ import annotations

import torch

from posekit.body.rotations import (
    RotationError,
    check_rotations,
    euler_to_rotvec,
    rot6d_to_rotmat,
    rotmat_to_rotvec,
    rotvec_to_rotmat,
)
from posekit.body.skeleton import MIRROR_PERMUTATION, NUM_BODY_JOINTS, NUM_JOINTS, joint_index

__all__ = ["PoseFormatError", "SplitPose", "pose_from_degrees", "poses_from_degrees", "to_rotmats", "full_pose_rotmats", "remove_yaw", "yaw_angle", "mirror_rotvec"]


class PoseFormatError(ValueError):
    """A pose tensor has a shape, dtype or value posekit cannot use."""


class SplitPose:
    """Mixin for containers of full poses ``pose (N, 24, 3)``: SMPL's two arguments as views."""

    pose: torch.Tensor

    def __len__(self) -> int:
        return self.pose.shape[0]

    @property
    def global_orient(self) -> torch.Tensor:
        """``(N, 3)``."""
        return self.pose[:, 0]

    @property
    def body_pose(self) -> torch.Tensor:
        """``(N, 23, 3)``."""
        return self.pose[:, 1:]


def to_rotmats(x: torch.Tensor, num_joints: int | None, name: str, validate: bool = True) -> torch.Tensor:
    """Rotations in any posekit format -> rotation matrices.

    Args:
        x: ``(B, 3)``, ``(B, 3, 3)`` or ``(B, 6)`` when ``num_joints`` is None (one joint,
            e.g. ``global_orient``); ``(B, N, 3)``, ``(B, N, 3, 3)`` or ``(B, N, 6)`` otherwise.
        num_joints: ``N``, or None for a single joint.
        name: argument name used in error messages.
        validate: check the values (:func:`posekit.body.rotations.check_rotations`: NaN/inf,
            matrices that are not rotations, degenerate 6D); False on hot paths whose inputs
            are valid by construction.

    Returns:
        ``(B, 3, 3)`` or ``(B, N, 3, 3)``.

    Raises:
        PoseFormatError: wrong type, dtype or shape, or (``validate``) invalid values.
    """
    if not isinstance(x, torch.Tensor):
        raise PoseFormatError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise PoseFormatError(f"{name} must be a floating-point tensor (float32/float64), got dtype {x.dtype}")
    if x.dim() == 0:
        raise PoseFormatError(f"{name} is a single number (a 0-dimensional tensor); pass "
                              f"{'(B, 3) axis-angle, for one body x.reshape(1, 3)' if num_joints is None else f'(B, {num_joints}, 3) axis-angle'}")
    lead = (x.shape[0],) if num_joints is None else (x.shape[0], num_joints) if x.dim() >= 2 else ()
    core = tuple(x.shape[len(lead):]) if lead and tuple(x.shape[: len(lead)]) == lead else None
    expected_dim = 1 if num_joints is None else 2
    kinds = {(3,): ("rotvec", 1), (3, 3): ("rotmat", 2), (6,): ("rot6d", 1)}
    if core in kinds and x.dim() == expected_dim + kinds[core][1]:
        kind = kinds[core][0]
        if validate:
            try:
                check_rotations(x, kind, name)
            except RotationError as error:
                raise PoseFormatError(str(error)) from None
        if kind == "rotvec":
            return rotvec_to_rotmat(x, validate=False)
        return x if kind == "rotmat" else rot6d_to_rotmat(x, validate=False)
    if not torch.isfinite(x).all():
        raise PoseFormatError(f"{name} contains {int((~torch.isfinite(x)).sum())} NaN/inf value(s) and has the "
                              f"wrong shape {tuple(x.shape)}")
    j = "" if num_joints is None else f"{num_joints}, "
    raise PoseFormatError(
        f"{name} must have shape (B, {j}3) axis-angle, (B, {j}3, 3) rotation matrices or (B, {j}6) 6D; "
        f"got {tuple(x.shape)}. Add the batch dimension with x[None] or reshape a flattened pose."
    )


def full_pose_rotmats(
    global_orient: torch.Tensor | None,
    body_pose: torch.Tensor | None,
    batch_size: int | None = None,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
    validate: bool = True,
) -> torch.Tensor:
    """Global orientation and body pose in any format -> ``(B, 24, 3, 3)`` rotation matrices.

    A missing part is the identity (rest pose). ``batch_size`` is needed when both are missing.
    ``validate``: see :func:`to_rotmats`.
    """
    parts = {}
    if global_orient is not None:
        parts["global_orient"] = to_rotmats(global_orient, None, "global_orient", validate)[:, None]
    if body_pose is not None:
        parts["body_pose"] = to_rotmats(body_pose, NUM_BODY_JOINTS, "body_pose", validate)
    sizes = {k: v.shape[0] for k, v in parts.items()}
    if batch_size is not None:
        sizes["batch_size"] = batch_size
    if len(set(sizes.values())) > 1:
        raise PoseFormatError(f"batch sizes disagree: {sizes}; pass tensors with the same first dimension")
    if not sizes:
        raise PoseFormatError("pass global_orient, body_pose or batch_size")
    batch = next(iter(sizes.values()))
    ref = next(iter(parts.values()), None)
    dtype = ref.dtype if ref is not None else dtype
    device = ref.device if ref is not None else device
    eye = torch.eye(3, dtype=dtype, device=device)
    go = parts.get("global_orient", eye.expand(batch, 1, 3, 3))
    bp = parts.get("body_pose", eye.expand(batch, NUM_BODY_JOINTS, 3, 3))
    return torch.cat([go.to(dtype), bp.to(dtype)], dim=1)  # (B, 24, 3, 3)


def yaw_angle(global_rotmat: torch.Tensor) -> torch.Tensor:
    """Heading (radians, ``(B,)``) of a global orientation ``(B, 3, 3)``: the angle about the
    vertical y axis of the body's forward direction (+z at rest)."""
    forward = global_rotmat[..., :, 2]  # (B, 3): image of +z
    return torch.atan2(forward[..., 0], forward[..., 2])


def remove_yaw(global_orient: torch.Tensor) -> torch.Tensor:
    """PoseScript-style normalisation: rotate about y so that the body faces +z.

    Keeps pitch and roll (a person lying down stays lying down). Accepts and returns the
    same format as given (``(B, 3)``, ``(B, 3, 3)`` or ``(B, 6)``).
    """
    rot = to_rotmats(global_orient, None, "global_orient")
    yaw = yaw_angle(rot)
    c, s = torch.cos(-yaw), torch.sin(-yaw)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    undo = torch.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(*c.shape, 3, 3)
    out = undo @ rot
    if global_orient.shape[-1] == 3 and global_orient.dim() == 2:
        return rotmat_to_rotvec(out)
    if global_orient.shape[-1] == 6:
        return torch.cat([out[..., :, 0], out[..., :, 1]], -1)
    return out


def mirror_rotvec(pose: torch.Tensor) -> torch.Tensor:
    """Left/right mirror of a full axis-angle pose ``(B, 24, 3)`` (swap sides, negate y and z)."""
    if pose.dim() != 3 or tuple(pose.shape[1:]) != (NUM_JOINTS, 3):
        raise PoseFormatError(f"pose must have shape (B, {NUM_JOINTS}, 3), got {tuple(pose.shape)}")
    flipped = pose[:, list(MIRROR_PERMUTATION)]
    return flipped * flipped.new_tensor([1.0, -1.0, -1.0])


def pose_from_degrees(
    angles: dict[str, tuple[float, float, float]], convention: str = "XYZ", dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """Readable authored pose -> ``(global_orient (1, 3), body_pose (1, 23, 3))`` axis-angle.

    ``angles`` maps SMPL joint names to Euler angles in degrees (``convention`` as in
    :func:`posekit.body.rotations.euler_to_rotvec`); unnamed joints stay at rest. In SMPL's
    T-pose, ``left_shoulder: (0, 0, -75)`` lowers the left arm, ``left_hip: (-90, 0, 0)``
    lifts the left thigh forward and ``left_knee: (90, 0, 0)`` bends the knee.
    """
    return poses_from_degrees([angles], convention, dtype)


def poses_from_degrees(
    poses: list[dict[str, tuple[float, float, float]]], convention: str = "XYZ", dtype: torch.dtype = torch.float32
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`pose_from_degrees` for many poses at once -> ``(global_orient (B, 3), body_pose (B, 23, 3))``:
    one conversion for every named joint of every pose (a library of 171 poses in milliseconds, not a
    second; the values are the same bit for bit)."""
    triples, where = [], []
    for b, angles in enumerate(poses):
        for name, triple in angles.items():
            if len(triple) != 3:
                raise PoseFormatError(f"{name}: need 3 Euler angles in degrees, got {triple!r}")
            triples.append(tuple(triple))
            where.append((b, joint_index(name)))
    full = torch.zeros(len(poses), NUM_JOINTS, 3, dtype=dtype)
    if triples:
        rows, joints = zip(*where)
        full[list(rows), list(joints)] = euler_to_rotvec(torch.tensor(triples, dtype=dtype), convention)
    return full[:, 0], full[:, 1:]

