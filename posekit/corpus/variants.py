"""Realistic variants of authored poses: perturbation, interpolation, mirroring, random heading.

Every candidate passes the plausibility checks of :mod:`posekit.body.plausibility` (joint
limits, no gross self-intersection, standing poses stand on their feet); farthest-point
sampling on yaw-normalised joint positions then keeps a diverse subset per source pose,
as PoseScript did. Randomness comes only from the ``seed``: the same seed, entries and
config give the same poses, bit for bit.
"""
from __future__ import annotations

import dataclasses
import math
import zlib

import numpy as np
import roma
import torch

from posekit.body.parameters import SplitPose, mirror_rotvec
from posekit.body.plausibility import JointLimits, check_plausible, load_joint_limits
from posekit.body.rotations import euler_to_rotvec
from posekit.body.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from posekit.configs import check_field_types
from posekit.corpus.library import PoseEntry
from posekit.language.posecodes import normalize_joints

__all__ = ["SamplerConfig", "PoseSet", "entries_to_rotvec", "sample_variants", "farthest_point_sampling",
           "JOINT_NOISE_DEG"]

JOINT_NOISE_DEG: dict[str, float] = {
    "spine": 5.0, "neck": 8.0, "head": 8.0, "collar": 3.0, "shoulder": 12.0, "elbow": 12.0, "wrist": 12.0,
    "hand": 10.0, "hip": 10.0, "knee": 10.0, "ankle": 8.0, "foot": 6.0,
}
"""Standard deviation (degrees) of the perturbation of each joint group."""
_STANDING = ("feet", "one foot")


@dataclasses.dataclass(frozen=True)
class SamplerConfig:
    """How variants are drawn (saved with every dataset built from them)."""

    candidates_per_pose: int = 48
    """Candidates drawn per source pose before filtering and farthest-point sampling."""
    keep_per_pose: int = 16
    """Variants kept per source pose (farthest-point sampling among the plausible candidates)."""
    noise_scale: float = 1.0
    """Multiplier on :data:`JOINT_NOISE_DEG`."""
    interpolation_share: float = 0.25
    """Share of candidates interpolated (slerp) with another pose of the same category and support."""
    mirror_probability: float = 0.3
    """Chance that a candidate is mirrored left/right."""
    random_yaw: bool = True
    """Turn every candidate by a random heading (global orientation about the vertical)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.candidates_per_pose < 1 or not 1 <= self.keep_per_pose <= self.candidates_per_pose:
            raise ValueError(f"need 1 <= keep_per_pose ({self.keep_per_pose}) <= candidates_per_pose "
                             f"({self.candidates_per_pose})")
        for name in ("interpolation_share", "mirror_probability"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)}")
        if self.noise_scale < 0:
            raise ValueError(f"noise_scale must be >= 0, got {self.noise_scale}")


@dataclasses.dataclass(frozen=True)
class PoseSet(SplitPose):
    """A batch of poses with their provenance."""

    pose: torch.Tensor
    """``(N, 24, 3)`` axis-angle, global orientation first."""
    source: tuple[str, ...]
    """Canonical pose each one was made from."""
    partner: tuple[str, ...]
    """Second canonical pose of an interpolation, ``""`` otherwise."""
    kind: tuple[str, ...]
    """``"canonical"``, ``"perturbed"`` or ``"interpolated"``."""
    mirrored: torch.Tensor
    """``(N,)`` bool."""

    def subset(self, index) -> "PoseSet":
        index = torch.as_tensor(index, dtype=torch.long)
        pick = index.tolist()
        return PoseSet(self.pose[index], tuple(self.source[i] for i in pick), tuple(self.partner[i] for i in pick),
                       tuple(self.kind[i] for i in pick), self.mirrored[index])

    @staticmethod
    def concat(sets: list["PoseSet"]) -> "PoseSet":
        return PoseSet(torch.cat([s.pose for s in sets]), sum((s.source for s in sets), ()),
                       sum((s.partner for s in sets), ()), sum((s.kind for s in sets), ()),
                       torch.cat([s.mirrored for s in sets]))


def entries_to_rotvec(entries: list[PoseEntry], dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Authored poses -> ``(N, 24, 3)`` axis-angle."""
    out = torch.zeros(len(entries), NUM_JOINTS, 3, dtype=dtype)
    for i, entry in enumerate(entries):
        for joint, angles in entry.angles.items():
            out[i, JOINT_INDEX[joint]] = euler_to_rotvec(torch.tensor(angles, dtype=dtype))
    return out


def _noise_std() -> torch.Tensor:
    std = torch.zeros(NUM_JOINTS)
    for j, name in enumerate(JOINT_NAMES):
        for key, deg in JOINT_NOISE_DEG.items():
            if key in name:
                std[j] = math.radians(deg)
    return std  # the pelvis (global orientation) gets no noise here


def _perturb(pose: torch.Tensor, scale: float, gen: torch.Generator) -> torch.Tensor:
    """Compose each joint with a small random rotation: ``R' = R exp(n)``, ``n ~ N(0, std^2)``."""
    noise = torch.randn(pose.shape, generator=gen, dtype=pose.dtype) * _noise_std().to(pose)[:, None] * scale
    return roma.rotmat_to_rotvec(roma.rotvec_to_rotmat(pose) @ roma.rotvec_to_rotmat(noise))


def _yaw(pose: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    angle = torch.rand(pose.shape[0], generator=gen, dtype=pose.dtype) * 2 * math.pi
    turn = roma.rotvec_to_rotmat(torch.stack([torch.zeros_like(angle), angle, torch.zeros_like(angle)], -1))
    out = pose.clone()
    out[:, 0] = roma.rotmat_to_rotvec(turn @ roma.rotvec_to_rotmat(pose[:, 0]))
    return out


def farthest_point_sampling(points: torch.Tensor, k: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Indices ``(k,)`` of a diverse subset of ``points (N, D)``: greedy farthest-point sampling
    from a random (seeded) start. Returns all indices when ``k >= N``."""
    n = points.shape[0]
    if k >= n:
        return torch.arange(n)
    start = int(torch.randint(n, (1,), generator=generator)) if generator is not None else 0
    chosen = [start]
    dist = (points - points[start]).norm(dim=-1)
    for _ in range(k - 1):
        nxt = int(dist.argmax())
        chosen.append(nxt)
        dist = torch.minimum(dist, (points - points[nxt]).norm(dim=-1))
    return torch.tensor(chosen)


def sample_variants(entries: dict[str, PoseEntry], body, config: SamplerConfig = SamplerConfig(), seed: int = 0,
                    limits: JointLimits | None = None, progress: bool = False) -> PoseSet:
    """Plausible, diverse variants of every entry (the canonical pose itself comes first).

    Interpolation partners are drawn among the given entries only: pass the entries of one
    split at a time so that no variant mixes a training pose with a test pose. Each
    entry's variants depend only on ``(seed, its name, its partners)``, not on the order
    of the entries. Perturbed rotations are projected into the joint limits (a straight
    knee stays straight rather than bending backwards), then filtered.
    """
    from tqdm.auto import tqdm

    limits = limits or load_joint_limits()
    names = list(entries)
    canon = entries_to_rotvec([entries[n] for n in names])
    out = []
    for i in tqdm(range(len(names)), desc="pose variants", disable=not progress):
        name, entry = names[i], entries[names[i]]
        key = zlib.crc32(name.encode("utf-8"))
        gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + key)
        rng = np.random.default_rng([int(seed), key])
        m = config.candidates_per_pose
        base = canon[i].expand(m, -1, -1).clone()
        partners = [n for n in names if n != name and entries[n].category == entry.category
                    and entries[n].support == entry.support]
        interp = torch.rand(m, generator=gen) < config.interpolation_share if partners else torch.zeros(m, dtype=torch.bool)
        partner = [""] * m
        for c in torch.nonzero(interp).flatten().tolist():
            partner[c] = partners[int(rng.integers(len(partners)))]
            t = float(rng.uniform(0.25, 0.75))
            other = canon[names.index(partner[c])]
            base[c] = roma.rotvec_slerp(canon[i][None], other[None], torch.tensor([t]))[0, 0]
        cand = _perturb(base, config.noise_scale, gen)
        cand[:, 1:] = limits.clamp(cand)[:, 1:]  # the root is never limited
        mirrored = torch.rand(m, generator=gen) < config.mirror_probability
        cand[mirrored] = mirror_rotvec(cand[mirrored])
        if config.random_yaw:
            cand = _yaw(cand, gen)
        joints = body(cand[:, 0], cand[:, 1:], joints_only=True).joints.detach()
        standing = torch.full((m,), entry.support in _STANDING)
        ok = check_plausible(cand, joints, standing, limits).ok
        keep = torch.nonzero(ok).flatten()
        if keep.numel() > config.keep_per_pose - 1:
            feats = normalize_joints(joints[keep]).flatten(1)
            keep = keep[farthest_point_sampling(feats, config.keep_per_pose - 1, gen)]
        pick = keep.tolist()
        canonical_pose = canon[i][None].clone()
        if config.random_yaw:
            canonical_pose = _yaw(canonical_pose, gen)
        out.append(PoseSet(
            torch.cat([canonical_pose, cand[keep]]), (name,) * (1 + len(pick)),
            ("",) + tuple(partner[c] for c in pick),
            ("canonical",) + tuple("interpolated" if partner[c] else "perturbed" for c in pick),
            torch.cat([torch.zeros(1, dtype=torch.bool), mirrored[keep]]),
        ))
    return PoseSet.concat(out)
