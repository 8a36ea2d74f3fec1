"""Authored pose libraries: named poses written as Euler angles (degrees) per SMPL joint.

Stored as data (``data/poses/*.json``), never as code. Each entry maps a pose name to
either ``{joint: [x, y, z]}`` (a bare pose) or a record::

    "waving hello": {"category": "gesture", "support": "feet", "base": "standing",
                      "tags": ["greeting"], "joints": {"right_shoulder": [0, 0, -20], ...}}

``base`` names another pose of the same file whose angles are inherited (and overridden
joint by joint). ``support`` says what carries the body weight (feet, one foot, knees,
sitting, lying, hands, air); the sampler's plausibility filter uses it. Keys starting
with ``_`` are comments. Angles are intrinsic XYZ Euler angles in degrees
(:func:`posekit.body.parameters.pose_from_degrees`).
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
from pathlib import Path

import torch

from posekit.body.parameters import poses_from_degrees, remove_yaw
from posekit.body.skeleton import JOINT_INDEX
from posekit.paths import data_dir, resolve_file

__all__ = ["PoseEntry", "SUPPORTS", "load_pose_entries", "load_pose_library", "library_params", "canonical_poses",
           "canonical_joints"]

SUPPORTS = ("feet", "one foot", "knees", "sitting", "lying", "hands", "air")
"""What carries the body weight in a pose."""


@dataclasses.dataclass(frozen=True)
class PoseEntry:
    """One authored pose with its metadata."""

    name: str
    angles: dict[str, tuple[float, float, float]]
    """Euler angles (degrees, intrinsic XYZ) per SMPL joint; unnamed joints are at rest."""
    category: str = "misc"
    support: str = "feet"
    tags: tuple[str, ...] = ()


def _check_angles(file: Path, pose: str, angles: dict) -> dict[str, tuple[float, float, float]]:
    out = {}
    for joint, triple in angles.items():
        if joint not in JOINT_INDEX:
            raise ValueError(f"{file}: pose {pose!r} names unknown joint {joint!r}")
        if not isinstance(triple, (list, tuple)) or len(triple) != 3 or not all(isinstance(a, (int, float)) for a in triple):
            raise ValueError(f"{file}: pose {pose!r}, joint {joint!r}: need 3 angles in degrees, got {triple!r}")
        out[joint] = tuple(float(a) for a in triple)
    return out


def load_pose_entries(name: str = "classic", path: str | os.PathLike | None = None) -> dict[str, PoseEntry]:
    """Read ``data/poses/<name>.json`` (or ``path``), resolving ``base`` inheritance and checking
    every joint name, angle triple and support."""
    file = resolve_file(f"{name}.json", path=path, env_var="POSEKIT_POSES", defaults=(data_dir() / "poses",),
                        what="pose library")
    raw = {k: v for k, v in json.loads(Path(file).read_text()).items() if not k.startswith("_")}
    entries: dict[str, PoseEntry] = {}

    def resolve(pose: str, chain: tuple[str, ...] = ()) -> PoseEntry:
        if pose in entries:
            return entries[pose]
        if pose in chain:
            raise ValueError(f"{file}: circular 'base' chain {' -> '.join(chain + (pose,))}")
        if pose not in raw:
            raise ValueError(f"{file}: pose {chain[-1]!r} has unknown base {pose!r}")
        item = raw[pose]
        if "joints" not in item:  # a bare {joint: angles} pose
            entries[pose] = PoseEntry(pose, _check_angles(file, pose, item))
            return entries[pose]
        unknown = set(item) - {"joints", "base", "category", "support", "tags"}
        if unknown:
            raise ValueError(f"{file}: pose {pose!r} has unknown keys {sorted(unknown)}")
        angles = dict(resolve(item["base"], chain + (pose,)).angles) if "base" in item else {}
        angles.update(_check_angles(file, pose, item["joints"]))
        support = item.get("support", "feet")
        if support not in SUPPORTS:
            raise ValueError(f"{file}: pose {pose!r} has support {support!r}; expected one of {SUPPORTS}")
        entries[pose] = PoseEntry(pose, angles, item.get("category", "misc"), support, tuple(item.get("tags", ())))
        return entries[pose]

    for pose in raw:
        resolve(pose)
    return {pose: entries[pose] for pose in raw}


def load_pose_library(name: str = "classic", path: str | os.PathLike | None = None) -> dict[str, dict[str, tuple]]:
    """``{pose name: {joint: (x, y, z) degrees}}`` of a library (bases resolved)."""
    return {pose: entry.angles for pose, entry in load_pose_entries(name, path).items()}


def library_params(names: list[str], library: dict[str, dict[str, tuple]] | None = None,
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(global_orient (B, 3), body_pose (B, 23, 3))`` axis-angle for the named poses."""
    library = library if library is not None else load_pose_library()
    missing = [n for n in names if n not in library]
    if missing:
        raise KeyError(f"poses {missing} not in the library; available: {sorted(library)}")
    return poses_from_degrees([library[n] for n in names], dtype=dtype)


def canonical_poses(names: list[str] | None = None) -> dict[str, torch.Tensor]:
    """``{name: (24, 3) axis-angle}`` of canonical poses (``data/poses/canonical.json``; all when
    ``names`` is None), global orientation first, heading removed as in the datasets."""
    library = load_pose_library("canonical")
    names = list(library) if names is None else list(names)
    orient, body = library_params(names, library)
    orient = remove_yaw(orient)
    return {n: torch.cat([orient[i:i + 1], body[i]]) for i, n in enumerate(names)}


def canonical_joints(body, names: list[str] | None = None) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Names, poses ``(C, 24, 3)`` and joints ``(C, 24, 3)`` of the canonical poses (all when ``names``
    is None: computed once per body model) posed on ``body`` (a :class:`posekit.body.model.BodyModel`)."""
    if names is None:
        return _all_canonical_joints(body)
    poses = canonical_poses(names)
    stacked = torch.stack([poses[n] for n in names]) if names else torch.zeros(0, 24, 3)
    with torch.no_grad():
        joints = body(stacked[:, 0], stacked[:, 1:], joints_only=True).joints if names else torch.zeros(0, 24, 3)
    return list(names), stacked, joints


@functools.lru_cache(maxsize=4)
def _all_canonical_joints(body) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    return canonical_joints(body, list(canonical_poses()))
