"""A chat answer's files: SMPL parameters (``.npz``), the posed mesh (``.obj``) and a self-contained
interactive page (``.html``); saved elsewhere, with a warning, when the asked folder cannot be written."""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import torch

from posekit.body.skeleton import NUM_BETAS, NUM_JOINTS
from posekit.files import read_npz
from posekit.viz import plot_bodies, wrap_title

if TYPE_CHECKING:  # for annotations only: the session imports this module
    from posekit.chat.session import ChatPoseResult, ChatSession

__all__ = ["export_or_fallback", "save_pose_npz", "load_pose_npz", "save_obj", "save_html"]


def export_or_fallback(session: "ChatSession", result: "ChatPoseResult", folder: str | os.PathLike,
                       force: bool = False) -> tuple[dict[str, Path], Path, str | None]:
    """Write a pose's files into ``folder``; if that fails (a file in the way, a user's file of the
    same name, no permission, a full disk), into a new temporary folder instead, so an answer is
    never lost. Returns the files, the folder used and a warning to show (None when ``folder`` worked)."""
    import tempfile

    try:
        return session.export(result, folder, force=force), Path(folder), None
    except OSError as err:
        fallback = Path(tempfile.mkdtemp(prefix="posekit-chat-"))
        files = session.export(result, fallback)
        return files, fallback, f"could not write to {folder} ({err.strerror or err}); saved in {fallback} instead"


def save_pose_npz(path: str | os.PathLike, pose: torch.Tensor, betas: torch.Tensor | None = None) -> Path:
    """SMPL parameters as SMPL/smplx expect them: ``global_orient (1, 3)``, ``body_pose (1, 69)``,
    ``betas (1, 10)`` (axis-angle, radians)."""
    pose = torch.as_tensor(pose, dtype=torch.float32).reshape(NUM_JOINTS, 3)
    betas = torch.zeros(NUM_BETAS) if betas is None else torch.as_tensor(betas, dtype=torch.float32)
    np.savez(path, global_orient=pose[None, 0].numpy(), body_pose=pose[1:].reshape(1, -1).numpy(),
             betas=betas.reshape(1, -1).numpy())
    return Path(path)


def load_pose_npz(path: str | os.PathLike) -> tuple[torch.Tensor, torch.Tensor]:
    """``(pose (24, 3), betas (10,))`` from a file written by :func:`save_pose_npz`."""

    data = read_npz(path, "pose file")
    missing = [k for k in ("global_orient", "body_pose", "betas") if k not in data]
    if missing:
        raise ValueError(f"pose file {path} lacks {missing}; write it with posekit.chat.session.save_pose_npz")
    pose = np.concatenate([data["global_orient"].reshape(1, 3), data["body_pose"].reshape(-1, 3)])
    return torch.from_numpy(pose).float(), torch.from_numpy(data["betas"].reshape(-1)).float()


def save_obj(path: str | os.PathLike, vertices: torch.Tensor, faces) -> Path:
    """A Wavefront OBJ mesh (metres, y up)."""
    faces = np.asarray(faces)
    lines = [f"v {x:.6f} {y:.6f} {z:.6f}" for x, y, z in torch.as_tensor(vertices).tolist()]
    lines += [f"f {a + 1} {b + 1} {c + 1}" for a, b, c in faces.tolist()]
    Path(path).write_text("# posekit pose mesh\n" + "\n".join(lines) + "\n")
    return Path(path)


def save_html(path: str | os.PathLike, result: ChatPoseResult, faces) -> Path:
    """A self-contained interactive 3D view (plotly.js embedded: opens offline)."""

    fig = plot_bodies([(result.vertices, faces, result.joints)], titles=[f"pose {result.index}"], cols=1,
                      height=640)
    fig.update_layout(title=dict(text=wrap_title(result.description, 100, lines=4), font=dict(size=13)),
                      margin=dict(l=0, r=40, t=110, b=0), modebar=dict(orientation="v"))
    fig.write_html(path, include_plotlyjs=True, full_html=True)
    return Path(path)
