"""Rotation representations and conversions (roma does the math).

Vocabulary used across posekit:

- ``rotvec``: axis-angle, ``(..., 3)``, angle in radians = vector norm (SMPL's native form).
- ``rotmat``: rotation matrix, ``(..., 3, 3)``.
- ``rot6d``: the first two *columns* of the rotation matrix concatenated, ``(..., 6)``
  (the HMR2 / ChatPose layout: ``rot6d[..., :3]`` is column 0, ``rot6d[..., 3:]`` is
  column 1). Decoding uses Gram-Schmidt, so any 6-vector with independent halves maps
  to a valid rotation.

All functions accept any number of leading batch dimensions and keep dtype and device.

**Validity.** Every conversion checks its input by default and raises :class:`RotationError`
(a ``ValueError``) that says what is wrong: NaN/inf in any representation; rotation matrices
that are not orthonormal with determinant +1 (within :data:`ROTATION_ATOL`, so ``2 * I`` or an
all-zero matrix never pass); 6D vectors with a zero or parallel pair of columns (which
Gram-Schmidt would turn into NaN). ``validate=False`` skips the check on hot paths whose inputs
are valid by construction (a network's 6D output during training, matrices posekit just made).
"""
from __future__ import annotations

import math

import roma
import torch

__all__ = [
    "rotvec_to_rotmat", "rotmat_to_rotvec", "rot6d_to_rotmat", "rotmat_to_rot6d",
    "rotvec_to_rot6d", "rot6d_to_rotvec", "euler_to_rotvec", "geodesic_angle",
    "check_trailing_shape", "check_rotations", "RotationError", "ROTATION_ATOL",
]

ROTATION_ATOL = 1e-2
"""Largest accepted ``|R^T R - I|`` entry and ``|det R - 1|`` of a rotation matrix (loose enough
for float16 outputs, tight enough that scaled, reflected or zero matrices fail)."""

_MIN_COLUMN = 1e-6
"""Smallest accepted column norm, and sine of the angle between the columns, of a 6D rotation."""


class RotationError(ValueError):
    """A rotation has NaN/inf values or is not a rotation (see :func:`check_rotations`)."""


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


def _first_bad(bad: torch.Tensor) -> str:
    """`` at index (i, j, ...)`` of the first True entry of ``bad`` (batch dimensions)."""
    index = tuple(int(i) for i in torch.nonzero(bad)[0]) if bad.dim() else ()
    return f" at index {index}" if index else ""


@torch.no_grad()
def check_rotations(x: torch.Tensor, kind: str, name: str = "rotation") -> None:
    """Raise :class:`RotationError` unless every rotation in ``x`` is valid.

    ``kind``: ``"rotvec"`` ``(..., 3)`` (finite), ``"rotmat"`` ``(..., 3, 3)`` (finite,
    orthonormal, determinant +1 within :data:`ROTATION_ATOL`) or ``"rot6d"`` ``(..., 6)``
    (finite, both columns non-zero and not parallel). The message names ``name``, the batch
    index of the first bad rotation and what is wrong with it."""
    trailing = {"rotvec": (3,), "rotmat": (3, 3), "rot6d": (6,)}
    if kind not in trailing:
        raise ValueError(f"kind must be one of {sorted(trailing)}, got {kind!r}")
    check_trailing_shape(x, trailing[kind], name)
    n = len(trailing[kind])
    finite = torch.isfinite(x).flatten(x.dim() - n).all(-1)
    if not bool(finite.all()):
        count = int((~torch.isfinite(x)).sum())
        raise RotationError(f"{name} contains {count} NaN/inf value(s){_first_bad(~finite)}; "
                            "check the upstream computation")
    if x.numel() == 0 or kind == "rotvec":
        return
    v = x.double()
    if kind == "rotmat":
        eye = torch.eye(3, dtype=v.dtype, device=v.device)
        ortho = (v.transpose(-1, -2) @ v - eye).abs().amax((-1, -2))
        det = torch.linalg.det(v)
        bad = (ortho > ROTATION_ATOL) | ((det - 1).abs() > ROTATION_ATOL)
        if bool(bad.any()):
            first = tuple(int(i) for i in torch.nonzero(bad)[0]) if bad.dim() else ()
            raise RotationError(
                f"{name} is not a rotation matrix{_first_bad(bad)}: |R^T R - I| = {float(ortho[first]):.3g}, "
                f"det = {float(det[first]):.3g} (need orthonormal with det +1 within {ROTATION_ATOL}); "
                "project it with roma.special_procrustes or pass validate=False if you know better")
        return
    a, b = v[..., :3], v[..., 3:]
    na, nb = a.norm(dim=-1), b.norm(dim=-1)
    sine = torch.linalg.cross(a, b).norm(dim=-1) / (na * nb).clamp_min(1e-300)
    info = torch.finfo(x.dtype)
    low, high = max(_MIN_COLUMN, 10 * math.sqrt(info.tiny)), math.sqrt(info.max / 3) / 10
    bad = (na < low) | (nb < low) | (sine < _MIN_COLUMN)
    if bool(bad.any()):
        raise RotationError(f"{name} has a 6D rotation with a zero or parallel pair of columns{_first_bad(bad)}: "
                            "Gram-Schmidt cannot make a rotation of it")
    bad = (na > high) | (nb > high)
    if bool(bad.any()):
        raise RotationError(f"{name} has a 6D rotation with a column longer than {high:.3g}{_first_bad(bad)}, which "
                            f"overflows in {x.dtype}; divide it by its norm (6D decoding ignores the scale)")


def rotvec_to_rotmat(rotvec: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Axis-angle ``(..., 3)`` -> rotation matrix ``(..., 3, 3)``."""
    check_trailing_shape(rotvec, (3,), "rotvec")
    if validate:
        check_rotations(rotvec, "rotvec", "rotvec")
    return roma.rotvec_to_rotmat(rotvec)


def rotmat_to_rotvec(rotmat: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Rotation matrix ``(..., 3, 3)`` -> axis-angle ``(..., 3)`` with angle in [0, pi]."""
    check_trailing_shape(rotmat, (3, 3), "rotmat")
    if validate:
        check_rotations(rotmat, "rotmat", "rotmat")
    return roma.rotmat_to_rotvec(rotmat)


def rotmat_to_rot6d(rotmat: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Rotation matrix ``(..., 3, 3)`` -> 6D ``(..., 6)``: columns 0 and 1 concatenated."""
    check_trailing_shape(rotmat, (3, 3), "rotmat")
    if validate:
        check_rotations(rotmat, "rotmat", "rotmat")
    return torch.cat([rotmat[..., :, 0], rotmat[..., :, 1]], dim=-1)


def rot6d_to_rotmat(rot6d: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """6D ``(..., 6)`` -> rotation matrix ``(..., 3, 3)`` by Gram-Schmidt (HMR2 layout)."""
    check_trailing_shape(rot6d, (6,), "rot6d")
    if validate:
        check_rotations(rot6d, "rot6d", "rot6d")
    cols = rot6d.reshape(*rot6d.shape[:-1], 2, 3).transpose(-1, -2)  # (..., 3, 2)
    return roma.special_gramschmidt(cols)


def rotvec_to_rot6d(rotvec: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Axis-angle ``(..., 3)`` -> 6D ``(..., 6)``."""
    return rotmat_to_rot6d(rotvec_to_rotmat(rotvec, validate), validate=False)


def rot6d_to_rotvec(rot6d: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """6D ``(..., 6)`` -> axis-angle ``(..., 3)``."""
    return rotmat_to_rotvec(rot6d_to_rotmat(rot6d, validate), validate=False)


def euler_to_rotvec(angles_deg: torch.Tensor, convention: str = "XYZ") -> torch.Tensor:
    """Euler angles in degrees ``(..., 3)`` -> axis-angle ``(..., 3)``.

    ``convention`` follows roma: upper case for intrinsic rotations (the default
    ``"XYZ"`` rotates about the joint's own x, then the new y, then the new z), lower
    case for extrinsic ones. Used for readable, authored poses.
    """
    check_trailing_shape(angles_deg, (3,), "angles_deg")
    return roma.euler_to_rotvec(convention, angles_deg, degrees=True)


def mean_rotation(rotmat: torch.Tensor, dim: int = 0, weights: torch.Tensor | None = None) -> torch.Tensor:
    """Average of rotation matrices ``(..., 3, 3)`` over ``dim``: the arithmetic mean projected back
    onto rotations (special Procrustes: the chordal L2 mean). ``weights`` ``rotmat.shape[:-2]``
    (>= 0, not all zero along ``dim``): a weighted mean."""
    check_trailing_shape(rotmat, (3, 3), "rotmat")
    check_rotations(rotmat, "rotmat", "rotmat")
    if weights is None:
        return roma.special_procrustes(rotmat.mean(dim))
    if weights.shape != rotmat.shape[:-2]:
        raise ValueError(f"weights must have shape {tuple(rotmat.shape[:-2])} (one per rotation), got {tuple(weights.shape)}")
    w = weights.to(rotmat.dtype)[..., None, None]
    return roma.special_procrustes((rotmat * w).sum(dim) / w.sum(dim))


def geodesic_angle(rotmat_a: torch.Tensor, rotmat_b: torch.Tensor, validate: bool = True) -> torch.Tensor:
    """Angle in radians ``(...)`` of the rotation taking ``rotmat_a`` to ``rotmat_b``."""
    check_trailing_shape(rotmat_a, (3, 3), "rotmat_a")
    check_trailing_shape(rotmat_b, (3, 3), "rotmat_b")
    if validate:
        check_rotations(rotmat_a, "rotmat", "rotmat_a")
        check_rotations(rotmat_b, "rotmat", "rotmat_b")
    rel = rotmat_a.transpose(-1, -2) @ rotmat_b
    cos = ((rel.diagonal(dim1=-2, dim2=-1).sum(-1) - 1.0) / 2.0).clamp(-1.0, 1.0)
    # acos loses precision near 0 and pi; atan2 of (sin, cos) stays accurate.
    skew = rel - rel.transpose(-1, -2)
    sin = torch.stack([skew[..., 2, 1], skew[..., 0, 2], skew[..., 1, 0]], -1).norm(dim=-1) / 2.0
    return torch.atan2(sin, cos)

