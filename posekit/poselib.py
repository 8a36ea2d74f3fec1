"""Authored pose libraries: named poses written as Euler angles (degrees) per SMPL joint.

Stored as data (``data/poses/*.json``), never as code. A file maps a pose name to
``{joint name: [x, y, z] degrees}`` (keys starting with ``_`` are comments).
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import torch

from posekit.paths import data_dir, resolve_file
from posekit.pose import pose_from_degrees
from posekit.skeleton import JOINT_INDEX

__all__ = ["load_pose_library", "library_params"]


def load_pose_library(name: str = "classic", path: str | os.PathLike | None = None) -> dict[str, dict[str, tuple]]:
    """Read ``data/poses/<name>.json`` (or ``path``); checks every joint name and angle triple."""
    file = resolve_file(f"{name}.json", path=path, env_var="POSEKIT_POSES", defaults=(data_dir() / "poses",),
                        what="pose library")
    raw = json.loads(Path(file).read_text())
    library = {}
    for pose, angles in raw.items():
        if pose.startswith("_"):
            continue
        for joint, triple in angles.items():
            if joint not in JOINT_INDEX:
                raise ValueError(f"{file}: pose {pose!r} names unknown joint {joint!r}")
            if len(triple) != 3 or not all(isinstance(a, (int, float)) for a in triple):
                raise ValueError(f"{file}: pose {pose!r}, joint {joint!r}: need 3 angles in degrees, got {triple!r}")
        library[pose] = {joint: tuple(float(a) for a in triple) for joint, triple in angles.items()}
    return library


def library_params(names: list[str], library: dict[str, dict[str, tuple]] | None = None,
                   dtype: torch.dtype = torch.float32) -> tuple[torch.Tensor, torch.Tensor]:
    """``(global_orient (B, 3), body_pose (B, 23, 3))`` axis-angle for the named poses."""
    library = library if library is not None else load_pose_library()
    missing = [n for n in names if n not in library]
    if missing:
        raise KeyError(f"poses {missing} not in the library; available: {sorted(library)}")
    params = [pose_from_degrees(library[n], dtype=dtype) for n in names]
    return torch.cat([p[0] for p in params]), torch.cat([p[1] for p in params])
