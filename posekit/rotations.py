"""Rotation representations and conversions (roma does the math).

Vocabulary used across posekit:

- ``rotvec``: axis-angle, ``(..., 3)``, angle in radians = vector norm (SMPL's native form).
- ``rotmat``: rotation matrix, ``(..., 3, 3)``.
- ``rot6d``: the first two *columns* of the rotation matrix concatenated, ``(..., 6)``
  (the HMR2 / ChatPose layout: ``rot6d[..., :3]`` is column 0, ``rot6d[..., 3:]`` is
  column 1). Decoding uses Gram-Schmidt, so any 6-vector with independent halves maps
  to a valid rotation.

All functions accept any number of leading batch dimensions and keep dtype and device.
"""
from __future__ import annotations


import roma
import torch

__all__ = [
    "rotvec_to_rotmat", "rotmat_to_rotvec", "rot6d_to_rotmat", "rotmat_to_rot6d",
    "rotvec_to_rot6d", "rot6d_to_rotvec", "euler_to_rotvec", "geodesic_angle",
    "check_trailing_shape",
]


def check_trailing_shape(x: torch.Tensor, trailing: tuple[int, ...], name: str) -> None:
    """Raise ``ValueError`` unless ``x`` is a floating tensor ending in ``trailing``."""
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if not x.is_floating_point():
        raise ValueError(f"{name} must be a floating-point tensor, got dtype {x.dtype}")
    n = len(trailing)
    if x.dim() < n or tuple(x.shape[-n:]) != trailing:
        expected = "(..., " + ", ".join(map(str, trailing)) + ")"
        raise ValueError(f"{name} must have shape {expected}, got {tuple(x.shape)}")


def rotvec_to_rotmat(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle ``(..., 3)`` -> rotation matrix ``(..., 3, 3)``."""
    check_trailing_shape(rotvec, (3,), "rotvec")
    return roma.rotvec_to_rotmat(rotvec)


def rotmat_to_rotvec(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` with angle in [0, pi]."""
    check_trailing_shape(rotmat, (3, 3), "rotmat")
    return roma.rotmat_to_rotvec(rotmat)


def rotmat_to_rot6d(rotmat: torch.Tensor) -> torch.Tensor:
    """Rotation matrix ``(..., 3, 3)`` -> 6D ``(..., 6)``: columns 0 and 1 concatenated."""
    check_trailing_shape(rotmat, (3, 3), "rotmat")
    return torch.cat([rotmat[..., :, 0], rotmat[..., :, 1]], dim=-1)


def rot6d_to_rotmat(rot6d: torch.Tensor) -> torch.Tensor:
    """6D ``(..., 6)`` -> rotation matrix ``(..., 3, 3)`` by Gram-Schmidt (HMR2 layout)."""
    check_trailing_shape(rot6d, (6,), "rot6d")
    cols = rot6d.reshape(*rot6d.shape[:-1], 2, 3).transpose(-1, -2)  # (..., 3, 2)
    return roma.special_gramschmidt(cols)


def rotvec_to_rot6d(rotvec: torch.Tensor) -> torch.Tensor:
    """Axis-angle ``(..., 3)`` -> 6D ``(..., 6)``."""
    return rotmat_to_rot6d(rotvec_to_rotmat(rotvec))


def rot6d_to_rotvec(rot6d: torch.Tensor) -> torch.Tensor:
    """6D ``(..., 6)`` -> axis-angle ``(..., 3)``."""
    return rotmat_to_rotvec(rot6d_to_rotmat(rot6d))


def euler_to_rotvec(angles_deg: torch.Tensor, convention: str = "XYZ") -> torch.Tensor:
    """Euler angles in degrees ``(..., 3)`` -> axis-angle ``(..., 3)``.

    ``convention`` follows roma: upper case for intrinsic rotations (the default
    ``"XYZ"`` rotates about the joint's own x, then the new y, then the new z), lower
    case for extrinsic ones. Used for readable, authored poses.
    """
    check_trailing_shape(angles_deg, (3,), "angles_deg")
    return roma.euler_to_rotvec(convention, angles_deg, degrees=True)


def mean_rotation(rotmat: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """Average of rotation matrices ``(..., 3, 3)`` over ``dim``: the arithmetic mean projected back
    onto rotations (special Procrustes: the chordal L2 mean)."""
    check_trailing_shape(rotmat, (3, 3), "rotmat")
    return roma.special_procrustes(rotmat.mean(dim))


def geodesic_angle(rotmat_a: torch.Tensor, rotmat_b: torch.Tensor) -> torch.Tensor:
    """Angle in radians ``(...)`` of the rotation taking ``rotmat_a`` to ``rotmat_b``."""
    check_trailing_shape(rotmat_a, (3, 3), "rotmat_a")
    check_trailing_shape(rotmat_b, (3, 3), "rotmat_b")
    rel = rotmat_a.transpose(-1, -2) @ rotmat_b
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    # acos loses precision near 0 and pi; atan2 of (sin, cos) stays accurate.
    skew = rel - rel.transpose(-1, -2)
    sin = torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1).norm(dim=-1) / 2.0
    return torch.atan2(sin, cos)

