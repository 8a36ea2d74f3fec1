"""Linear blend skinning as plain functions (the math of SMPL, apart from file loading).

Shapes: B batch, J joints, V vertices, S shape components, P = 9 * (J - 1) pose-corrective
features.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from posekit.body.skeleton import kinematic_levels

__all__ = ["blend_shapes", "vertices_to_joints", "pose_features", "forward_kinematics", "skin"]


def blend_shapes(betas: torch.Tensor, shapedirs: torch.Tensor) -> torch.Tensor:
    """Shape offsets: betas ``(B, S)``, shapedirs ``(V, 3, S)`` -> ``(B, V, 3)``."""
    return torch.einsum("bs,vks->bvk", betas, shapedirs)


def vertices_to_joints(j_regressor: torch.Tensor, vertices: torch.Tensor) -> torch.Tensor:
    """Joint locations: j_regressor ``(J, V)``, vertices ``(B, V, 3)`` -> ``(B, J, 3)``."""
    return torch.einsum("jv,bvk->bjk", j_regressor, vertices)


def pose_features(rotmats: torch.Tensor) -> torch.Tensor:
    """SMPL pose-corrective features: rotmats ``(B, J, 3, 3)`` -> ``(B, 9 * (J - 1))``.

    ``R - I`` of every non-root joint, flattened, as SMPL's ``posedirs`` expect.
    """
    eye = torch.eye(3, dtype=rotmats.dtype, device=rotmats.device)
    return (rotmats[:, 1:] - eye).flatten(1)  # (B, (J-1)*9)


@lru_cache(maxsize=8)
def _level_plan(parents: tuple[int, ...]) -> tuple[list[list[int]], list[list[int]], list[int]]:
    """Per level: its joints, each joint's parent as a position in the previous level,
    and the permutation from level order back to joint order."""
    levels = kinematic_levels(parents)
    position = {}
    for level in levels:
        for k, j in enumerate(level):
            position[j] = k
    parent_pos = [[position[parents[j]] for j in level] for level in levels[1:]]
    order = [j for level in levels for j in level]
    inverse = [0] * len(order)
    for k, j in enumerate(order):
        inverse[j] = k
    return levels, parent_pos, inverse


def forward_kinematics(
    rotmats: torch.Tensor, rest_joints: torch.Tensor, parents: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Pose a skeleton whose rest frames are aligned with the world axes (as in SMPL).

    Args:
        rotmats: ``(B, J, 3, 3)`` local rotations; joint 0 is the global orientation.
        rest_joints: ``(B, J, 3)`` rest-pose joint locations (``B`` may be 1).
        parents: parent index per joint, parents before children.

    Returns:
        ``posed_joints (B, J, 3)``, and the rigid transform of each joint relative to the
        rest pose as ``rel_rot (B, J, 3, 3)``, ``rel_trans (B, J, 3)``: a rest-pose point
        ``x`` attached to joint ``j`` moves to ``rel_rot[j] @ x + rel_trans[j]``.
    """
    batch = rotmats.shape[0]
    rest_joints = rest_joints.expand(batch, -1, -1)
    levels, parent_pos, inverse = _level_plan(tuple(parents))
    # Offsets of each joint from its parent in the rest pose; the root keeps its location.
    parent_idx = torch.tensor(parents[1:], device=rotmats.device)
    offsets = torch.cat(  # (B, J, 3): each joint relative to its parent, the root absolute
        [rest_joints[:, :1], rest_joints[:, 1:] - rest_joints[:, parent_idx]], dim=1
    )
    rot_levels = [rotmats[:, levels[0]]]  # world rotation per level, (B, n_k, 3, 3)
    pos_levels = [offsets[:, levels[0]]]  # world position per level, (B, n_k, 3)
    for level, ppos in zip(levels[1:], parent_pos):
        prot = rot_levels[-1][:, ppos]  # (B, n_k, 3, 3)
        ppos_xyz = pos_levels[-1][:, ppos]  # (B, n_k, 3)
        rot_levels.append(prot @ rotmats[:, level])
        pos_levels.append(ppos_xyz + (prot @ offsets[:, level, :, None]).squeeze(-1))
    inverse_t = torch.tensor(inverse, device=rotmats.device)
    world_rot = torch.cat(rot_levels, dim=1)[:, inverse_t]  # (B, J, 3, 3)
    posed_joints = torch.cat(pos_levels, dim=1)[:, inverse_t]  # (B, J, 3)
    rel_trans = posed_joints - (world_rot @ rest_joints[..., None]).squeeze(-1)
    return posed_joints, world_rot, rel_trans


def skin(
    vertices: torch.Tensor, weights: torch.Tensor, rel_rot: torch.Tensor, rel_trans: torch.Tensor
) -> torch.Tensor:
    """Linear blend skinning.

    Args:
        vertices: ``(B, V, 3)`` rest-pose vertices (shaped and pose-corrected).
        weights: ``(V, J)`` skinning weights, rows summing to 1.
        rel_rot, rel_trans: ``(B, J, 3, 3)`` and ``(B, J, 3)`` from :func:`forward_kinematics`.

    Returns:
        ``(B, V, 3)`` posed vertices.
    """
    batch, joints = rel_rot.shape[:2]
    transforms = torch.cat([rel_rot.reshape(batch, joints, 9), rel_trans], dim=-1)  # (B, J, 12)
    # Blend per-vertex transforms a few bodies at a time: the (b, V, 12) intermediate then
    # stays in cache, which is about twice as fast on CPU as one (B, V, 12) pass.
    chunks = []
    for start in range(0, batch, _SKIN_CHUNK):
        blended = torch.matmul(weights, transforms[start:start + _SKIN_CHUNK])  # (b, V, 12) row-major 3x4
        v = vertices[start:start + _SKIN_CHUNK]  # (b, V, 3)
        out = torch.addcmul(blended[..., 9:], blended[..., 0:9:3], v[..., 0:1])  # t + R[:, 0] * x
        out = out + blended[..., 1:9:3] * v[..., 1:2] + blended[..., 2:9:3] * v[..., 2:3]
        chunks.append(out)
    if not chunks:  # an empty batch: no bodies, no vertices
        return vertices.new_zeros(0, vertices.shape[1], 3)
    return chunks[0] if len(chunks) == 1 else torch.cat(chunks, dim=0)


_SKIN_CHUNK = 16
