"""Is a pose humanly possible? Joint limits, gross self-intersection, ground support.

Three independent checks on a batch, each returning a ``(B,)`` boolean mask (True =
plausible), combined by :func:`check_plausible` into a :class:`PlausibilityReport`:

- **joint limits**: every axis-angle component of every local rotation inside the range of
  ``data/poses/joint_limits.json`` (left side given, right side mirrored);
- **self-intersection**: limbs modelled as capsules (thighs, shins, upper arms, forearms,
  torso, head); two non-adjacent capsules whose axes come closer than a quarter of their
  summed radii interpenetrate grossly (touching, even squeezing, is allowed: capsules are
  coarse; passing through is not);
- **support**: for poses that stand (``support`` ``"feet"`` / ``"one foot"``), the lowest
  point of the body is a foot.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
from pathlib import Path

import torch

from posekit.body.skeleton import JOINT_INDEX, JOINT_NAMES, MIRROR_PERMUTATION, NUM_JOINTS
from posekit.paths import data_dir, resolve_file

__all__ = ["JointLimits", "load_joint_limits", "self_intersection", "feet_support", "check_plausible",
           "PlausibilityReport", "CAPSULES"]


@dataclasses.dataclass(frozen=True)
class JointLimits:
    """Box limits on axis-angle components, radians: ``low``, ``high`` of shape ``(24, 3)``.

    The root (global orientation) is never limited.
    """

    low: torch.Tensor
    high: torch.Tensor

    def inside(self, pose: torch.Tensor, tolerance_deg: float = 0.5) -> torch.Tensor:
        """``(B,)`` True where every joint of ``pose (B, 24, 3)`` axis-angle is inside its limits."""
        return self.violations(pose, tolerance_deg).flatten(1).any(1).logical_not()

    def violations(self, pose: torch.Tensor, tolerance_deg: float = 0.5) -> torch.Tensor:
        """``(B, 24, 3)`` True where a component is out of range."""
        if pose.dim() != 3 or tuple(pose.shape[1:]) != (NUM_JOINTS, 3):
            raise ValueError(f"pose must be axis-angle (B, {NUM_JOINTS}, 3), got {tuple(pose.shape)}")
        tol = math.radians(tolerance_deg)
        low, high = self.low.to(pose), self.high.to(pose)
        return (pose < low - tol) | (pose > high + tol)

    def clamp(self, pose: torch.Tensor) -> torch.Tensor:
        """Project ``pose (B, 24, 3)`` into the limits, component-wise."""
        return torch.maximum(torch.minimum(pose, self.high.to(pose)), self.low.to(pose))

    def describe(self, pose: torch.Tensor) -> list[str]:
        """Human-readable list of the violations of the first pose of the batch."""
        bad = self.violations(pose[:1])[0]
        out = []
        for j, axis in zip(*torch.nonzero(bad, as_tuple=True)):
            value = math.degrees(float(pose[0, j, axis]))
            lo, hi = math.degrees(float(self.low[j, axis])), math.degrees(float(self.high[j, axis]))
            out.append(f"{JOINT_NAMES[j]} {'xyz'[axis]}: {value:.0f} deg outside [{lo:.0f}, {hi:.0f}]")
        return out


def load_joint_limits(path: str | os.PathLike | None = None) -> JointLimits:
    """Read the joint-limit table (default ``data/poses/joint_limits.json``)."""
    file = resolve_file("joint_limits.json", path=path, env_var="POSEKIT_POSES", defaults=(data_dir() / "poses",),
                        what="joint limits")
    table = {k: v for k, v in json.loads(Path(file).read_text()).items() if not k.startswith("_")}
    low = torch.full((NUM_JOINTS, 3), -math.pi)
    high = torch.full((NUM_JOINTS, 3), math.pi)
    for name, ranges in table.items():
        if name not in JOINT_INDEX or name.startswith("right_"):
            raise ValueError(f"{file}: {name!r} is not a left-side or centre SMPL joint")
        j = JOINT_INDEX[name]
        for axis, key in enumerate("xyz"):
            lo, hi = (math.radians(v) for v in ranges[key])
            if lo > hi:
                raise ValueError(f"{file}: {name} {key} range [{lo}, {hi}] is empty")
            low[j, axis], high[j, axis] = lo, hi
            mirror = MIRROR_PERMUTATION[j]
            if mirror != j:  # right side: x range kept, y and z ranges negated
                if axis == 0:
                    low[mirror, axis], high[mirror, axis] = lo, hi
                else:
                    low[mirror, axis], high[mirror, axis] = -hi, -lo
    return JointLimits(low, high)


# Capsules: (name, joint a, joint b, radius in metres). The torso runs pelvis -> spine3.
CAPSULES: tuple[tuple[str, str, str, float], ...] = (
    ("torso", "pelvis", "spine3", 0.11),
    ("head", "neck", "head", 0.09),
    ("left thigh", "left_hip", "left_knee", 0.07), ("right thigh", "right_hip", "right_knee", 0.07),
    ("left shin", "left_knee", "left_ankle", 0.05), ("right shin", "right_knee", "right_ankle", 0.05),
    ("left upper arm", "left_shoulder", "left_elbow", 0.045), ("right upper arm", "right_shoulder", "right_elbow", 0.045),
    ("left forearm", "left_elbow", "left_wrist", 0.035), ("right forearm", "right_elbow", "right_wrist", 0.035),
)


def _capsule_pairs() -> list[tuple[int, int]]:
    pairs = []
    for i, (_, a1, b1, _) in enumerate(CAPSULES):
        for k in range(i + 1, len(CAPSULES)):
            _, a2, b2, _ = CAPSULES[k]
            names = {CAPSULES[i][0], CAPSULES[k][0]}
            if {a1, b1} & {a2, b2}:
                continue  # adjacent segments share a joint
            if "torso" in names and any(n.endswith(("thigh", "upper arm")) for n in names):
                continue  # attached at the hips / shoulders, overlapping by construction
            if names == {"torso", "head"}:
                continue
            pairs.append((i, k))
    return pairs


_PAIRS = _capsule_pairs()


def _segment_distance(p1, q1, p2, q2) -> torch.Tensor:
    """Closest distance between segments p1-q1 and p2-q2 (all ``(..., 3)``); clamped parameters."""
    d1, d2, r = q1 - p1, q2 - p2, p1 - p2
    a, e, f = (d1 * d1).sum(-1), (d2 * d2).sum(-1), (d2 * r).sum(-1)
    c, b = (d1 * r).sum(-1), (d1 * d2).sum(-1)
    denom = (a * e - b * b).clamp_min(1e-12)
    s = ((b * f - c * e) / denom).clamp(0, 1)
    t = ((b * s + f) / e.clamp_min(1e-12)).clamp(0, 1)
    s = ((b * t - c) / a.clamp_min(1e-12)).clamp(0, 1)
    return ((p1 + d1 * s[..., None]) - (p2 + d2 * t[..., None])).norm(dim=-1)


def self_intersection(joints: torch.Tensor, depth: float = 0.25) -> tuple[torch.Tensor, torch.Tensor]:
    """Gross interpenetration of limb capsules.

    Args:
        joints: ``(B, 24, 3)``.
        depth: a pair intersects when its axes are closer than ``depth * (r1 + r2)``.

    Returns:
        ``ok (B,)`` (True: no gross intersection) and ``worst (B,)``, the smallest ratio
        distance / (r1 + r2) over the checked pairs.
    """
    i = torch.tensor([p[0] for p in _PAIRS])
    k = torch.tensor([p[1] for p in _PAIRS])
    a = torch.tensor([JOINT_INDEX[c[1]] for c in CAPSULES])
    b = torch.tensor([JOINT_INDEX[c[2]] for c in CAPSULES])
    radius = torch.tensor([c[3] for c in CAPSULES], dtype=joints.dtype)
    start, end = joints[:, a], joints[:, b]  # (B, C, 3)
    dist = _segment_distance(start[:, i], end[:, i], start[:, k], end[:, k])  # (B, P)
    ratio = dist / (radius[i] + radius[k])
    worst = ratio.amin(1)
    return worst >= depth, worst


_FOOT_JOINTS = [JOINT_INDEX[n] for n in ("left_ankle", "right_ankle", "left_foot", "right_foot")]
_SKIN = torch.tensor([0.07 if "ankle" in n else 0.03 if n.endswith("foot") else 0.05 if "knee" in n else
                      0.03 if ("wrist" in n or "hand" in n) else 0.10 for n in JOINT_NAMES])


def feet_support(joints: torch.Tensor, margin: float = 0.05) -> torch.Tensor:
    """``(B,)`` True when the lowest point of the body (joint minus skin radius) is a foot, or
    within ``margin`` of one: a standing pose is not held up by a knee, a hand or the hips."""
    low = joints[..., 1] - _SKIN.to(joints)  # (B, 24)
    feet = low[:, _FOOT_JOINTS].amin(1)
    return feet <= low.amin(1) + margin


@dataclasses.dataclass(frozen=True)
class PlausibilityReport:
    """Per-check masks ``(B,)`` and their conjunction."""

    limits: torch.Tensor
    intersection: torch.Tensor
    support: torch.Tensor
    worst_clearance: torch.Tensor

    @property
    def ok(self) -> torch.Tensor:
        return self.limits & self.intersection & self.support


def check_plausible(pose: torch.Tensor, joints: torch.Tensor, standing: torch.Tensor,
                    limits: JointLimits | None = None) -> PlausibilityReport:
    """All checks on a batch.

    Args:
        pose: ``(B, 24, 3)`` axis-angle (global orientation first).
        joints: ``(B, 24, 3)`` posed joints.
        standing: ``(B,)`` bool, the poses whose weight is on the feet (support check only there).
        limits: joint limits (default: the packaged table).
    """
    limits = limits or load_joint_limits()
    inter, worst = self_intersection(joints)
    support = feet_support(joints) | ~standing.to(torch.bool)
    return PlausibilityReport(limits.inside(pose), inter, support, worst)
