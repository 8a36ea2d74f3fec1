"""Build posekit's open, SMPL-compatible neutral body from Anny's CC0 MakeHuman assets.

SMPL's model files are licence-gated, so posekit ships its own body in SMPL's model-file
layout (``v_template, shapedirs, posedirs, J_regressor, kintree_table, weights, f``),
loadable by :class:`posekit.body.model.BodyModel` and by ``smplx.SMPL`` alike. The recipe:

1. Sample adult phenotypes from Anny's WHO-calibrated shape distribution (seeded).
2. For each, take Anny's rest mesh (an A-pose) and re-pose it into SMPL's canonical
   T-pose with Anny's own skinning: upper arms and forearms horizontal, elbow
   flexion axis vertical, palms down, hands in line with the forearms.
3. Map Anny's 104 bones onto SMPL's 24 joints: every bone's skinning weight goes to one
   SMPL joint; joint centres are Anny bone heads (or means of a few).
4. Change axes to SMPL's (y up, facing +z, the body's left at +x), put the pelvis at
   the origin.
5. ``v_template`` is the population mean; ``shapedirs`` the top principal components of
   the meshes, scaled so that ``betas ~ N(0, I)``; ``J_regressor`` a sparse, sum-to-one
   vertex regressor fitted to the joint centres of every sample.
6. ``posedirs`` are zeros: Anny is plain linear blend skinning with no pose correctives.

Run it with ``posekit build-body`` (about 2 minutes the first time, when Anny builds its
own 790 MB cache under ``$ANNY_CACHE_DIR``). The result is deterministic for a config.
"""
from __future__ import annotations

import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import roma
import torch

from posekit.body.lbs import forward_kinematics, skin
from posekit.body.skeleton import JOINT_NAMES, NUM_JOINTS, PARENTS
from posekit.configs import check_field_types

__all__ = ["OpenBodyConfig", "build_open_body", "save_body_npz", "BONE_TO_JOINT", "JOINT_ANCHORS"]

# Anny (z up, facing -y, left at +x) -> SMPL (y up, facing +z, left at +x).
ANNY_TO_SMPL_AXES = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]])


def _sided(mapping: dict[str, str]) -> dict[str, str]:
    out = {}
    for bone, joint in mapping.items():
        for side, word in (("L", "left"), ("R", "right")):
            out[f"{bone}.{side}"] = f"{word}_{joint}"
    return out


BONE_TO_JOINT: dict[str, str] = {
    "root": "pelvis", "spine05": "pelvis", "spine04": "pelvis",
    "spine03": "spine1", "spine02": "spine2", "spine01": "spine3",
    "neck01": "neck", "neck02": "neck", "neck03": "neck",
    "head": "head", "eye.L": "head", "eye.R": "head",
    **_sided({
        "pelvis": "hip", "upperleg01": "hip", "upperleg02": "hip",
        "lowerleg01": "knee", "lowerleg02": "knee", "foot": "ankle",
        "clavicle": "collar", "shoulder01": "collar",
        "upperarm01": "shoulder", "upperarm02": "shoulder",
        "lowerarm01": "elbow", "lowerarm02": "elbow", "wrist": "wrist",
    }),
}
"""Anny bone -> SMPL joint whose rotation moves it. Toes, metacarpals and fingers are
matched by prefix in :func:`bone_joint`."""

JOINT_ANCHORS: dict[str, tuple[str, ...]] = {
    "pelvis": ("root",), "spine1": ("spine03",), "spine2": ("spine02",), "spine3": ("spine01",),
    "neck": ("neck01",), "head": ("head",),
    **{f"{w}_{j}": tuple(f"{b}.{s}" for b in bones) for s, w in (("L", "left"), ("R", "right"))
       for j, bones in {
           "hip": ("upperleg01",), "knee": ("lowerleg01",), "ankle": ("foot",),
           "foot": ("toe1-1", "toe2-1", "toe3-1", "toe4-1", "toe5-1"),
           "collar": ("clavicle",), "shoulder": ("upperarm01",), "elbow": ("lowerarm01",),
           "wrist": ("wrist",), "hand": ("finger2-1", "finger3-1", "finger4-1", "finger5-1"),
       }.items()},
}
"""SMPL joint -> Anny bones whose rest heads, averaged, give the joint centre."""


def bone_joint(bone: str) -> str:
    """SMPL joint name that drives Anny bone ``bone``."""
    if bone in BONE_TO_JOINT:
        return BONE_TO_JOINT[bone]
    side = {"L": "left", "R": "right"}.get(bone.rsplit(".", 1)[-1])
    if side is not None:
        if bone.startswith("toe"):
            return f"{side}_foot"
        if bone.startswith("metacarpal"):
            return f"{side}_wrist"
        if bone.startswith("finger"):
            return f"{side}_hand"
    raise KeyError(f"Anny bone {bone!r} has no SMPL joint; extend posekit.body.open_body.BONE_TO_JOINT")


@dataclasses.dataclass(frozen=True)
class OpenBodyConfig:
    """How the open body is built; saved inside the model file."""

    seed: int = 0
    """Seed of the phenotype sampler."""
    num_samples: int = 320
    """Phenotypes sampled for the shape space and the joint regressor."""
    min_age: float = 20.0
    """Youngest morphological age (years) in the population."""
    max_age: float = 60.0
    """Oldest morphological age (years) in the population."""
    num_betas: int = 10
    """Shape components kept."""
    regressor_neighbours: int = 384
    """Vertices around each joint that the joint regressor may use."""
    regressor_ridge: float = 1e-6
    """Pull of the regressor towards uniform weights (relative to the data term)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.num_samples <= self.num_betas:
            raise ValueError(f"num_samples ({self.num_samples}) must exceed num_betas ({self.num_betas})")
        if not 0 < self.min_age < self.max_age:
            raise ValueError(f"need 0 < min_age < max_age, got {self.min_age}, {self.max_age}")
        if self.regressor_neighbours < 4:
            raise ValueError(f"regressor_neighbours must be >= 4, got {self.regressor_neighbours}")


def _rotation_between(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Smallest rotation matrix ``(..., 3, 3)`` taking direction ``a`` onto ``b`` (both ``(..., 3)``)."""
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    axis = torch.cross(a, b, dim=-1)
    sin = axis.norm(dim=-1, keepdim=True)
    cos = (a * b).sum(-1, keepdim=True)
    rotvec = axis / sin.clamp_min(1e-12) * torch.atan2(sin, cos)
    return roma.rotvec_to_rotmat(rotvec)


def _twist_about(axis: torch.Tensor, current: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rotation about ``axis`` ``(B, 3)`` taking the part of ``current`` orthogonal to the
    axis onto the part of ``target`` orthogonal to it (``(B, 3, 3)``)."""
    axis = axis / axis.norm(dim=-1, keepdim=True)

    def ortho(v: torch.Tensor) -> torch.Tensor:
        return v - (v * axis).sum(-1, keepdim=True) * axis

    return _rotation_between(ortho(current), ortho(target))


class _Posed:
    """Anny rest model under local rotations, re-evaluated after each T-pose step."""

    def __init__(self, heads: torch.Tensor, parents: list[int]):
        self.heads, self.parents = heads, tuple(parents)  # heads (B, K, 3)
        batch, bones = heads.shape[:2]
        self.local = torch.eye(3, dtype=heads.dtype).expand(batch, bones, 3, 3).clone()
        self.update()

    def update(self) -> None:
        self.joints, self.world_rot, self.rel_trans = forward_kinematics(self.local, self.heads, self.parents)

    def rotate_subtree(self, bone: int, world_delta: torch.Tensor) -> None:
        """Apply a world-frame rotation ``(B, 3, 3)`` at bone ``bone``'s current head."""
        parent_rot = self.world_rot[:, self.parents[bone]]
        self.local[:, bone] = parent_rot.transpose(-1, -2) @ world_delta @ parent_rot @ self.local[:, bone]
        self.update()


def _t_pose(anny_model, heads: torch.Tensor) -> _Posed:
    """Local rotations of every Anny bone that bring its A-pose into SMPL's T-pose."""
    labels = list(anny_model.bone_labels)
    idx = {name: i for i, name in enumerate(labels)}
    posed = _Posed(heads, list(anny_model.bone_parents))
    batch = heads.shape[0]
    forward = heads.new_tensor([0.0, -1.0, 0.0]).expand(batch, 3)  # Anny faces -y

    def at(name: str) -> torch.Tensor:
        return posed.joints[:, idx[name]]

    def knuckles(side: str) -> torch.Tensor:
        return torch.stack([at(f"finger{k}-1.{side}") for k in (2, 3, 4, 5)]).mean(0)

    for side, sign in (("L", 1.0), ("R", -1.0)):
        lateral = heads.new_tensor([sign, 0.0, 0.0]).expand(batch, 3)
        # Upper arm horizontal, then twisted so that the elbow flexes forward.
        shoulder, elbow = f"upperarm01.{side}", f"lowerarm01.{side}"
        posed.rotate_subtree(idx[shoulder], _rotation_between(at(elbow) - at(shoulder), lateral))
        posed.rotate_subtree(idx[shoulder], _twist_about(lateral, at(f"wrist.{side}") - at(elbow), forward))
        # Forearm straight, in line with the upper arm.
        posed.rotate_subtree(idx[elbow], _rotation_between(at(f"wrist.{side}") - at(elbow), lateral))
        # Forearm twist (Anny's lowerarm02) so that the palm faces down, thumb forward.
        thumb_side = at(f"finger2-1.{side}") - at(f"finger5-1.{side}")
        posed.rotate_subtree(idx[f"lowerarm02.{side}"], _twist_about(lateral, thumb_side, forward))
        # Hand in line with the forearm.
        posed.rotate_subtree(idx[f"wrist.{side}"], _rotation_between(knuckles(side) - at(f"wrist.{side}"), lateral))
    return posed


def _sample_phenotypes(anny_model, config: OpenBodyConfig) -> dict[str, torch.Tensor]:
    from anny.shape_distribution import SimpleShapeDistribution

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        ages = torch.distributions.Uniform(
            torch.tensor(config.min_age, dtype=anny_model.dtype),
            torch.tensor(config.max_age, dtype=anny_model.dtype),
        )
        sampler = SimpleShapeDistribution(anny_model, morphological_age_distribution=ages)
        _, phenotypes = sampler.sample(config.num_samples)
        return phenotypes


def _fit_regressor(
    vertices: torch.Tensor, joints: torch.Tensor, neighbours: int, ridge: float
) -> torch.Tensor:
    """Sum-to-one joint regressor ``(J, V)`` from samples vertices ``(N, V, 3)``, joints ``(N, J, 3)``.

    For each joint: the ``neighbours`` nearest vertices of the mean mesh, weights ``w``
    minimising ``||A w - y||^2 + ridge * tr(A^T A) / n * ||w - 1/n||^2`` under
    ``sum(w) = 1`` (closed form through the KKT system).
    """
    num, num_verts = vertices.shape[:2]
    mean_verts = vertices.mean(0)
    regressor = torch.zeros(joints.shape[1], num_verts, dtype=vertices.dtype)
    for j in range(joints.shape[1]):
        dist = (mean_verts - joints[:, j].mean(0)).norm(dim=-1)
        near = dist.topk(neighbours, largest=False).indices
        a = vertices[:, near].permute(0, 2, 1).reshape(num * 3, neighbours)  # (3N, n)
        y = joints[:, j].reshape(num * 3)  # (3N,)
        gram = a.T @ a
        lam = ridge * gram.diagonal().mean()
        prior = torch.full((neighbours,), 1.0 / neighbours, dtype=vertices.dtype)
        kkt = torch.zeros(neighbours + 1, neighbours + 1, dtype=vertices.dtype)
        kkt[:neighbours, :neighbours] = gram + lam * torch.eye(neighbours, dtype=vertices.dtype)
        kkt[:neighbours, -1] = 1.0
        kkt[-1, :neighbours] = 1.0
        rhs = torch.cat([a.T @ y + lam * prior, torch.ones(1, dtype=vertices.dtype)])
        regressor[j, near] = torch.linalg.solve(kkt, rhs)[:neighbours]
    return regressor


def _extra_vertex_ids(anny_model, verts: np.ndarray, weights_by_bone: np.ndarray) -> dict[str, int]:
    """Vertex ids of smplx's 21 extra keypoints (nose, eyes, ears, toes, heels, fingertips)
    on this mesh, in SMPL axes (``verts`` ``(V, 3)``, ``weights_by_bone`` ``(V, K)``)."""
    labels = list(anny_model.bone_labels)

    def bone_set(prefixes: tuple[str, ...], side: str | None = None) -> np.ndarray:
        cols = [i for i, n in enumerate(labels) if n.startswith(prefixes) and (side is None or n.endswith("." + side))]
        return np.flatnonzero(weights_by_bone[:, cols].sum(1) > 0.5)

    ids: dict[str, int] = {}
    head = bone_set(("head",))
    central = head[np.abs(verts[head, 0]) < 0.01]
    ids["nose"] = int(central[np.argmax(verts[central, 2])])
    for side, word, sign in (("L", "l", 1.0), ("R", "r", -1.0)):
        eye = bone_set(("eye",), side)
        ids[f"{word}eye"] = int(eye[np.argmax(verts[eye, 2])])
        eye_y = verts[eye, 1].mean()
        band = head[np.abs(verts[head, 1] - (eye_y - 0.03)) < 0.02]
        ids[f"{word}ear"] = int(band[np.argmax(sign * verts[band, 0])])
        up = word.upper()
        big, small = bone_set(("toe1-",), side), bone_set(("toe5-",), side)
        ids[f"{up}BigToe"] = int(big[np.argmax(verts[big, 2])])
        ids[f"{up}SmallToe"] = int(small[np.argmax(verts[small, 2])])
        foot = bone_set(("foot",), side)
        low = foot[verts[foot, 1] < verts[foot, 1].min() + 0.03]
        ids[f"{up}Heel"] = int(low[np.argmin(verts[low, 2])])
        for finger, name in enumerate(("thumb", "index", "middle", "ring", "pinky"), start=1):
            tip = bone_set((f"finger{finger}-3",), side)
            ids[f"{word}{name}"] = int(tip[np.argmax(sign * verts[tip, 0])])
    return ids


def build_open_body(config: OpenBodyConfig = OpenBodyConfig(), progress: bool = True) -> dict[str, np.ndarray]:
    """Build the open body; returns the SMPL model-file dict (plus posekit metadata).

    Needs the ``anny`` package (``pip install posekit[build]``).
    """
    try:
        import anny
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("building the open body needs the 'anny' package: pip install 'anny==0.6.2'") from err
    from tqdm.auto import tqdm

    steps = tqdm(total=6, desc="open body", disable=not progress)
    t0 = time.time()
    model = anny.Anny()
    steps.set_postfix_str("anny loaded"); steps.update()
    labels = list(model.bone_labels)
    phenotypes = _sample_phenotypes(model, config)
    with torch.no_grad():
        rest = model(phenotype_kwargs=phenotypes)
        rest_vertices, heads = rest["rest_vertices"], rest["rest_bone_heads"]  # (N, V, 3), (N, K, 3)
        steps.set_postfix_str("phenotypes sampled"); steps.update()

        posed = _t_pose(model, heads)
        num_verts, num_bones = rest_vertices.shape[1], len(labels)
        dense = torch.zeros(num_verts, num_bones, dtype=rest_vertices.dtype)
        dense.scatter_add_(1, model.vertex_bone_indices, model.vertex_bone_weights)
        tposed = skin(rest_vertices, dense, posed.world_rot, posed.rel_trans)  # (N, V, 3)
        steps.set_postfix_str("T-posed"); steps.update()

        anchors = torch.stack(
            [posed.joints[:, [labels.index(b) for b in JOINT_ANCHORS[name]]].mean(1) for name in JOINT_NAMES], dim=1
        )  # (N, 24, 3)
        axes = torch.as_tensor(ANNY_TO_SMPL_AXES, dtype=tposed.dtype)
        tposed, anchors = tposed @ axes.T, anchors @ axes.T
        pelvis = anchors[:, :1].clone()
        tposed, anchors = tposed - pelvis, anchors - pelvis

        v_template = tposed.mean(0)  # (V, 3)
        centred = (tposed - v_template).reshape(config.num_samples, -1)  # (N, 3V)
        _, sing, vh = torch.linalg.svd(centred, full_matrices=False)
        std = sing / (config.num_samples - 1) ** 0.5
        explained = (sing**2 / (sing**2).sum())[: config.num_betas]
        components = vh[: config.num_betas] * std[: config.num_betas, None]  # (S, 3V)
        # Sign convention: a positive first component makes the body taller.
        heights = components.reshape(config.num_betas, num_verts, 3)[..., 1]
        flip = torch.where(heights.max(1).values - heights.min(1).values >= 0, 1.0, -1.0).to(components.dtype)
        shapedirs = (components * flip[:, None]).reshape(config.num_betas, num_verts, 3).permute(1, 2, 0)
        steps.set_postfix_str("shape space"); steps.update()

        # Held-out check first (fit on 80 %, test on the rest), then the final fit on all.
        split = int(0.8 * config.num_samples)
        trial = _fit_regressor(tposed[:split], anchors[:split], config.regressor_neighbours, config.regressor_ridge)
        held_out = (torch.einsum("jv,nvk->njk", trial, tposed[split:]) - anchors[split:]).norm(dim=-1)
        regressor = _fit_regressor(tposed, anchors, config.regressor_neighbours, config.regressor_ridge)
        steps.set_postfix_str("joint regressor"); steps.update()

        joint_of_bone = torch.tensor([JOINT_NAMES.index(bone_joint(b)) for b in labels])
        weights = torch.zeros(num_verts, NUM_JOINTS, dtype=dense.dtype).index_add_(1, joint_of_bone, dense)
        weights = weights / weights.sum(1, keepdim=True)
        extra = _extra_vertex_ids(model, v_template.numpy(), dense.numpy())

    faces = model.get_triangular_faces().numpy() if model.faces.shape[1] != 3 else model.faces.numpy()
    meta = {
        "name": "posekit-open-body",
        "source": f"anny {anny.__version__} (NAVER, Apache-2.0 code, CC0 MakeHuman assets)",
        "config": dataclasses.asdict(config),
        "joint_names": list(JOINT_NAMES),
        "explained_variance": [float(x) for x in explained],
        "regressor_held_out_error_mm": {"mean": float(held_out.mean() * 1000), "max": float(held_out.max() * 1000)},
        "extra_vertex_ids": extra,
        "build_seconds": round(time.time() - t0, 1),
    }
    steps.set_postfix_str("done"); steps.update(); steps.close()
    return {
        "v_template": v_template.numpy().astype(np.float32),
        "shapedirs": shapedirs.numpy().astype(np.float32),
        "posedirs": np.zeros((num_verts, 3, 9 * (NUM_JOINTS - 1)), dtype=np.float32),
        "J_regressor": regressor.numpy().astype(np.float32),
        "kintree_table": np.stack([np.array(PARENTS, dtype=np.int64) % (2**32), np.arange(NUM_JOINTS)]).astype(np.uint32),
        "weights": weights.numpy().astype(np.float32),
        "f": faces.astype(np.uint32),
        "posekit_meta": np.array(json.dumps(meta, sort_keys=True)),
    }


def save_body_npz(model_dict: dict[str, np.ndarray], path: str | Path) -> Path:
    """Write a model dict as a compressed ``.npz`` (the layout smplx reads for ``ext='npz'``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(path, **model_dict)
    return path
