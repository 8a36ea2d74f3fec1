"""Readers for the real datasets' file formats, for users who have them (posekit ships none).

- AMASS ``.npz`` motion files (SMPL-H or SMPL-X pose vectors, z-up world);
- PoseScript caption files (``posescript_human_*.json``, ``posescript_auto_*.json``) and its
  id -> (dataset, sequence, frame) index;
- SMPL parameter files in the 4D-Humans / BEDLAM style (``global_orient``, ``body_pose``,
  ``betas`` in axis-angle, flattened axis-angle or rotation matrices), ``.npz`` or ``.pkl``.

Everything is converted to posekit's pose format: ``(N, 24, 3)`` axis-angle, SMPL joint
order, y-up world. SMPL's two hand joints are left at rest when the source has finger
joints instead (their rotations do not map one to one).
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import pickle
from pathlib import Path

import numpy as np
import roma
import torch

from posekit.body.parameters import SplitPose
from posekit.body.rotations import RotationError, check_rotations, rotmat_to_rotvec
from posekit.body.skeleton import NUM_BODY_JOINTS, NUM_JOINTS
from posekit.files import read_npz

__all__ = ["SMPLParams", "load_amass_npz", "load_smpl_params", "load_posescript_captions", "load_posescript_index"]


@dataclasses.dataclass(frozen=True)
class SMPLParams(SplitPose):
    """Poses and shapes read from a file."""

    pose: torch.Tensor
    """``(N, 24, 3)`` axis-angle, global orientation first."""
    betas: torch.Tensor
    """``(N, S)`` shape coefficients (``S`` as in the file)."""
    transl: torch.Tensor | None = None
    """``(N, 3)`` root translation, when the file has one."""
    meta: dict = dataclasses.field(default_factory=dict)


def _z_up_to_y_up() -> torch.Tensor:
    return roma.rotvec_to_rotmat(torch.tensor([-math.pi / 2, 0.0, 0.0]))


def _check_rows(path: Path, key: str, x: np.ndarray, rows: int | None = None) -> None:
    """Raise ``ValueError`` naming the file, the key and the first bad row unless ``x`` is finite
    and (``rows``) has that many rows."""
    if rows is not None and (x.ndim == 0 or x.shape[0] != rows):
        raise ValueError(f"{path}: {key!r} has shape {x.shape} but the poses have {rows} rows; "
                         "every per-frame array needs one row per pose")
    finite = np.isfinite(x)
    if not finite.all():
        row = int(np.argwhere(~finite)[0][0]) if x.ndim else 0
        raise ValueError(f"{path}: {key!r} has NaN/inf values (first at row {row}); fix or drop those frames")


def _per_row_betas(path: Path, betas: np.ndarray, rows: int) -> torch.Tensor:
    """``(S,)``, ``(1, S)`` or ``(rows, S)`` shape coefficients -> ``(rows, S)``."""
    if betas.ndim == 1 or betas.ndim == 2 and betas.shape[0] == 1:
        betas = np.broadcast_to(betas.reshape(1, -1), (rows, betas.size))
    elif betas.ndim != 2 or betas.shape[0] != rows:
        raise ValueError(f"{path}: 'betas' has shape {betas.shape}; expected (S,), (1, S) or ({rows}, S), "
                         "one row per pose")
    _check_rows(path, "betas", betas)
    return torch.tensor(np.asarray(betas, dtype=np.float32))


def load_amass_npz(path: str | os.PathLike, frames: slice | None = None, z_up: bool = True) -> SMPLParams:
    """Read an AMASS motion file (never unpickling: see :func:`posekit.files.read_npz`).

    Args:
        path: ``.npz`` with ``poses (T, 156)`` (SMPL-H: 52 joints) or ``(T, 165)`` (SMPL-X: 55
            joints), ``betas`` and optionally ``trans (T, 3)``, ``mocap_framerate``, ``gender``.
        frames: optional slice of frames to keep (e.g. ``slice(None, None, 10)``).
        z_up: AMASS worlds are z-up; turn them y-up like SMPL (and posekit) expects.

    Raises:
        ValueError: a missing ``poses`` array, wrong shapes, row counts that disagree, NaN/inf
            values (the message names the file, the key and the row), pickled objects.
    """
    path = Path(path)
    data = read_npz(path, "AMASS file")
    if "poses" not in data:
        raise ValueError(f"{path} has no 'poses' array (keys: {sorted(data)}); is it an AMASS motion file?")
    poses = np.asarray(data["poses"], dtype=np.float32)
    if poses.ndim != 2 or poses.shape[1] not in (156, 165, 72):
        raise ValueError(f"{path}: 'poses' must be (T, 156) SMPL-H, (T, 165) SMPL-X or (T, 72) SMPL, got {poses.shape}")
    _check_rows(path, "poses", poses)
    trans = np.asarray(data["trans"], dtype=np.float32) if "trans" in data else None
    if trans is not None:
        _check_rows(path, "trans", trans, len(poses))
        if trans.ndim != 2 or trans.shape[1] != 3:
            raise ValueError(f"{path}: 'trans' must be (T, 3), got {trans.shape}")
    betas = np.asarray(data["betas"], dtype=np.float32) if "betas" in data else np.zeros(10, np.float32)
    meta = {k: data[k].item() if data[k].ndim == 0 else None for k in ("mocap_framerate", "gender") if k in data}
    frames = frames or slice(None)
    betas_t = _per_row_betas(path, betas, len(poses))[frames]
    poses = torch.from_numpy(poses[frames])
    full = torch.zeros(poses.shape[0], NUM_JOINTS, 3)
    full[:, :22] = poses[:, :66].reshape(-1, 22, 3)  # global + 21 body joints, shared by SMPL / SMPL-H / SMPL-X
    if poses.shape[1] == 72:
        full[:, 22:] = poses[:, 66:72].reshape(-1, 2, 3)
    transl = torch.from_numpy(trans[frames]) if trans is not None else None
    if z_up:
        fix = _z_up_to_y_up()
        full[:, 0] = roma.rotmat_to_rotvec(fix @ roma.rotvec_to_rotmat(full[:, 0]))
        transl = transl @ fix.T if transl is not None else None
    return SMPLParams(full, betas_t.clone(), transl, {**meta, "source": str(path), "format": "amass"})


def _as_rotvec(x: np.ndarray, joints: int, key: str, path: Path) -> torch.Tensor:
    """``(N, J*3)``, ``(N, J, 3)``, ``(N, J, 3, 3)`` or ``(N, J*9)`` -> ``(N, J, 3)`` axis-angle."""
    t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    n = t.shape[0]
    if t.dim() == 2 and t.shape[1] == joints * 3 or t.dim() == 3 and tuple(t.shape[1:]) == (joints, 3):
        return t.reshape(n, joints, 3)
    matrices = None
    if t.dim() == 4 and tuple(t.shape[1:]) == (joints, 3, 3) or t.dim() == 2 and t.shape[1] == joints * 9:
        matrices = t.reshape(n, joints, 3, 3)
    elif joints == 1 and (t.dim() == 3 and tuple(t.shape[1:]) == (3, 3)):
        matrices = t[:, None]
    if matrices is not None:
        try:
            check_rotations(matrices, "rotmat", f"{path}: {key!r}")
        except RotationError as err:
            raise ValueError(str(err)) from None
        return rotmat_to_rotvec(matrices, validate=False)
    raise ValueError(f"{path}: {key!r} has shape {tuple(t.shape)}; expected (N, {joints * 3}), (N, {joints}, 3) "
                     f"axis-angle or (N, {joints}, 3, 3) rotation matrices")


def load_smpl_params(path: str | os.PathLike, allow_pickle: bool = False) -> SMPLParams:
    """Read SMPL parameters (4D-Humans / BEDLAM style) from ``.npz`` or ``.pkl``: keys
    ``global_orient``, ``body_pose`` (21 or 23 joints), ``betas``, optional ``transl``.

    ``.pkl`` files are Python pickles, and loading a pickle runs whatever code it names: they
    are refused unless ``allow_pickle=True`` is passed for a file you trust (or convert it to
    ``.npz`` once). Raises ``ValueError`` naming the file, the key and the row for NaN/inf
    values, shapes that do not fit and row counts that disagree."""
    path = Path(path)
    if path.suffix == ".npz":
        data = read_npz(path, "SMPL parameter file")
    elif path.suffix in (".pkl", ".pickle"):
        if not path.is_file():
            raise FileNotFoundError(f"SMPL parameter file {path} does not exist")
        if not allow_pickle:
            raise ValueError(f"{path} is a Python pickle, which can run code when loaded: pass allow_pickle=True "
                             "only for a file you trust, or convert it to .npz")
        with open(path, "rb") as fh:
            data = pickle.load(fh)
        if not isinstance(data, dict):
            raise ValueError(f"{path}: expected a dict of arrays, got {type(data).__name__}")
    else:
        raise ValueError(f"unsupported file {path}: expected .npz or .pkl")
    missing = [k for k in ("global_orient", "body_pose") if k not in data]
    if missing:
        raise ValueError(f"{path} lacks {missing}; found keys {sorted(data)}")
    body_raw = np.asarray(data["body_pose"], dtype=np.float32)
    if body_raw.ndim < 2:
        raise ValueError(f"{path}: 'body_pose' must have one row per pose, got shape {body_raw.shape}")
    _check_rows(path, "body_pose", body_raw)
    rows = body_raw.shape[0]
    go_raw = np.asarray(data["global_orient"], dtype=np.float32)
    _check_rows(path, "global_orient", go_raw, rows)
    joints = 21 if body_raw.reshape(rows, -1).shape[1] in (63, 189) else NUM_BODY_JOINTS
    body = _as_rotvec(body_raw, joints, "body_pose", path)
    go = _as_rotvec(go_raw, 1, "global_orient", path)
    pose = torch.zeros(rows, NUM_JOINTS, 3)
    pose[:, :1], pose[:, 1:1 + joints] = go, body
    betas = _per_row_betas(path, np.asarray(data.get("betas", np.zeros((rows, 10))), dtype=np.float32), rows)
    transl = None
    if "transl" in data:
        raw = np.asarray(data["transl"], dtype=np.float32)
        _check_rows(path, "transl", raw, rows)
        if raw.ndim != 2 or raw.shape[1] != 3:
            raise ValueError(f"{path}: 'transl' must be (N, 3), got {raw.shape}")
        transl = torch.from_numpy(raw)
    return SMPLParams(pose, betas, transl, {"source": str(path), "format": "smpl-params"})


def load_posescript_captions(path: str | os.PathLike) -> dict[str, list[str]]:
    """PoseScript caption file: ``{pose id: caption or [captions]}`` -> ``{pose id: [captions]}``."""
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError(f"{path}: expected a JSON object mapping pose ids to captions, got {type(raw).__name__}")
    out = {}
    for key, value in raw.items():
        captions = [value] if isinstance(value, str) else value
        if not isinstance(captions, list) or not all(isinstance(c, str) for c in captions):
            raise ValueError(f"{path}: captions of pose {key!r} must be a string or a list of strings")
        out[str(key)] = captions
    return out


def load_posescript_index(path: str | os.PathLike) -> dict[str, tuple[str, str, int]]:
    """PoseScript's ``ids_2_dataset_sequence_and_frame_index.json``: ``{id: [dataset, sequence, frame]}``."""
    path = Path(path)
    raw = json.loads(path.read_text(encoding="utf-8"))
    out = {}
    for key, value in (raw.items() if isinstance(raw, dict) else enumerate(raw)):
        if not isinstance(value, (list, tuple)) or len(value) != 3:
            raise ValueError(f"{path}: entry {key!r} must be [dataset, sequence path, frame index], got {value!r}")
        out[str(key)] = (str(value[0]), str(value[1]), int(value[2]))
    return out
