"""Landmarks -> SMPL pose: a body fit by optimisation through posekit's forward kinematics.

The fit matches *directions*, never lengths: each bone of a declared set (:data:`BONES`, between the
points of :data:`POINTS`, each an SMPL joint or the mean of two on one side and a BlazePose landmark or
the mean of two on the other) should point as the person's does, in 3D (BlazePose's metric world
landmarks) and in the photo's plane (its image landmarks, more precise), each weighted by the
landmarks' visibility. So the person's proportions do not matter. Priors: the joint-limit table as a
hinge penalty and a pull towards the start, the nearest canonical pose (turned onto the person by
Kabsch; hidden limbs as in :data:`HIDDEN_LIMB_POSE`), which keeps the twist of the limbs, that
directions do not fix, where a plausible pose has it. Batched over people, deterministic (no
randomness): 0.34 s for one person alone on 2 cores (median over 12 test images, ``bench/photo_path.py``),
a few milliseconds each in a batch."""
from __future__ import annotations

import dataclasses
import functools
import time

import numpy as np
import roma
import torch

from posekit.body.model import BodyModel, load_body_model
from posekit.body.plausibility import check_plausible, load_joint_limits
from posekit.body.skeleton import NUM_JOINTS
from posekit.configs import check_field_types
from posekit.corpus.library import canonical_joints
from posekit.photos.landmarks import PhotoPerson

__all__ = ["POINTS", "BONES", "FitConfig", "PhotoFit", "fit_people", "reprojection", "person_from_joints",
           "LANDMARK_SOURCES", "bone_vectors"]

POINTS: tuple[tuple[str, tuple[int, ...], tuple[int, ...]], ...] = (
    ("hips", (1, 2), (23, 24)), ("left_hip", (1,), (23,)), ("right_hip", (2,), (24,)),
    ("left_knee", (4,), (25,)), ("right_knee", (5,), (26,)), ("left_ankle", (7,), (27,)), ("right_ankle", (8,), (28,)),
    ("left_foot", (10,), (31,)), ("right_foot", (11,), (32,)), ("shoulders", (16, 17), (11, 12)),
    ("head", (15,), (7, 8)),
    ("left_shoulder", (16,), (11,)), ("right_shoulder", (17,), (12,)), ("left_elbow", (18,), (13,)),
    ("right_elbow", (19,), (14,)), ("left_wrist", (20,), (15,)), ("right_wrist", (21,), (16,)),
    ("left_hand", (22,), (17, 19)), ("right_hand", (23,), (18, 20)))
"""Corresponding points: (name, SMPL joints averaged, BlazePose landmarks averaged)."""

_INDEX = {name: k for k, (name, _, _) in enumerate(POINTS)}
BONES: tuple[tuple[str, str], ...] = (
    ("right_hip", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"), ("left_ankle", "left_foot"),
    ("right_hip", "right_knee"), ("right_knee", "right_ankle"), ("right_ankle", "right_foot"), ("hips", "shoulders"),
    ("right_shoulder", "left_shoulder"), ("shoulders", "head"), ("left_shoulder", "left_elbow"),
    ("left_elbow", "left_wrist"), ("left_wrist", "left_hand"), ("right_shoulder", "right_elbow"),
    ("right_elbow", "right_wrist"), ("right_wrist", "right_hand"))
"""Directions the fit matches (from, to), by point name."""


LANDMARK_SOURCES: tuple[int, ...] = (15,) * 11 + (16, 17, 18, 19, 20, 21, 22, 23, 22, 23, 22, 23, 1, 2, 4, 5, 7, 8,
                                                 7, 8, 10, 11)
"""For each of BlazePose's 33 landmarks, the SMPL joint that stands for it in
:func:`person_from_joints` (the face's 11 points: the head joint; fingers: the hand; heels: the ankle)."""


def person_from_joints(joints: torch.Tensor, size: int = 512, visibility: float = 1.0) -> PhotoPerson:
    """The landmarks a perfect detector would give for SMPL joints ``(24, 3)`` (metres, posekit's
    frame, seen by a camera on +z looking at the origin, orthographic) in a ``size`` x ``size``
    photo: what tests and checks of the fit start from."""
    joints = torch.as_tensor(joints, dtype=torch.float64)
    marks = joints[list(LANDMARK_SOURCES)].numpy()  # (33, 3)
    world = marks - marks[[23, 24]].mean(0)
    height = float(marks[:, 1].max() - marks[:, 1].min()) or 1.0
    scale = 0.8 * size / height
    centre = (marks[:, :2].max(0) + marks[:, :2].min(0)) / 2
    image = np.stack([(marks[:, 0] - centre[0]) * scale + size / 2, size / 2 - (marks[:, 1] - centre[1]) * scale], 1)
    box = (float(image[:, 0].min()), float(image[:, 1].min()), float(image[:, 0].max()), float(image[:, 1].max()))
    return PhotoPerson(image, np.full(33, visibility), world, box)


@dataclasses.dataclass(frozen=True)
class FitConfig:
    steps: int = 150
    lr: float = 0.04
    image_weight: float = 1.0
    """Weight of the directions in the photo's plane beside the 3D ones (1.0)."""
    limit_weight: float = 1.0
    """Hinge penalty (per radian outside) of the joint-limit table."""
    start_weight: float = 0.005
    """Pull of every body joint towards the start (nearest canonical pose)."""
    min_visibility: float = 0.3
    """Landmarks less visible than this do not count."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.steps < 0 or min(self.lr, self.image_weight, self.limit_weight, self.start_weight) < 0:
            raise ValueError(f"FitConfig: steps, lr and the weights must be >= 0, got {self}")


@dataclasses.dataclass
class PhotoFit:
    """Fitted bodies of the people in a photo, one row each."""

    pose: torch.Tensor
    """``(P, 24, 3)`` axis-angle, global orientation first, in the camera's frame (x right, y up, z
    towards the camera: a body facing the camera faces +z)."""
    joints: torch.Tensor
    """``(P, 24, 3)`` posed joints (metres, the default body)."""
    start: list[str]
    """The canonical pose each fit started from."""
    reprojection: torch.Tensor
    """``(P,)`` mean distance (percent of the person's height in the photo) between the visible
    landmarks and the fitted body's points projected by the best scale and shift."""
    plausible: torch.Tensor
    """``(P,)`` bool: inside the joint limits, no limb through another (:func:`check_plausible`)."""
    projected: torch.Tensor
    """``(P, 24, 2)`` the fitted body's joints in the photo's pixels (see :func:`reprojection`)."""
    seconds: float


def _point_matrix(side: int, count: int) -> torch.Tensor:
    """``(len(POINTS), count)`` averaging weights for SMPL joints (side 1) or landmarks (side 2)."""
    out = torch.zeros(len(POINTS), count, dtype=torch.float64)
    for k, point in enumerate(POINTS):
        members = point[side]
        out[k, list(members)] = 1.0 / len(members)
    return out


_FROM_JOINTS = _point_matrix(1, NUM_JOINTS)
_FROM_LANDMARKS = _point_matrix(2, 33)
_BONE_A = torch.tensor([_INDEX[a] for a, _ in BONES])
_BONE_B = torch.tensor([_INDEX[b] for _, b in BONES])


def bone_vectors(joints: torch.Tensor) -> torch.Tensor:
    """The fit's bones ``(..., len(BONES), 3)`` (from point to point, unnormalised) of SMPL joints ``(..., 24, 3)``."""
    points = _FROM_JOINTS.to(joints) @ joints
    return points[..., _BONE_B, :] - points[..., _BONE_A, :]


def _targets(people: list[PhotoPerson], min_visibility: float):
    """Per person: 3D and image-plane unit directions of each bone, and its weight."""
    world = torch.tensor(np.stack([p.world for p in people]))  # (P, 33, 3)
    image = torch.tensor(np.stack([p.image_xy for p in people])) * torch.tensor([1.0, -1.0])  # y up
    seen = (torch.tensor(np.stack([p.visibility for p in people])) >= min_visibility).double()  # (P, 33)
    points3, points2 = _FROM_LANDMARKS @ world, _FROM_LANDMARKS @ image  # (P, N, 3), (P, N, 2)
    point_seen = (_FROM_LANDMARKS[None] * seen[:, None]).sum(-1) >= _FROM_LANDMARKS.sum(-1) - 1e-9  # all members
    weight = (point_seen[:, _BONE_A] & point_seen[:, _BONE_B]).double()  # (P, bones)
    d3 = torch.nn.functional.normalize(points3[:, _BONE_B] - points3[:, _BONE_A], dim=-1)
    d2 = torch.nn.functional.normalize(points2[:, _BONE_B] - points2[:, _BONE_A], dim=-1)
    return d3, d2, weight, points3, point_seen


HIDDEN_LIMB_POSE = "standing"
"""The canonical pose whose limbs a person's hidden limbs start from (a portrait's legs, arms out of the
frame): the directions cannot tell, and standing with the arms down is the likeliest."""
_LIMBS = {  # a limb's points that show it, and its joints (SMPL numbering; the body pose drops the pelvis)
    "left leg": (("left_knee", "left_ankle"), (1, 4, 7, 10)),
    "right leg": (("right_knee", "right_ankle"), (2, 5, 8, 11)),
    "left arm": (("left_elbow", "left_wrist"), (13, 16, 18, 20, 22)),
    "right arm": (("right_elbow", "right_wrist"), (14, 17, 19, 21, 23))}


@functools.lru_cache(maxsize=4)
def _canonical_points(body: BodyModel) -> tuple[list[str], torch.Tensor, torch.Tensor]:
    """Names, poses ``(C, 24, 3)`` and centred points ``(C, N, 3)`` of the canonical poses on ``body``."""
    names, poses, joints = canonical_joints(body)
    ours = _FROM_JOINTS @ joints.double()  # (C, N, 3)
    return names, poses.double(), ours - ours.mean(1, keepdim=True)


def _start(points3: torch.Tensor, seen: torch.Tensor, body: BodyModel):
    """Nearest canonical pose per person, turned onto them (Kabsch on the centred points the person
    shows, ``seen`` ``(P, N)``); a limb whose middle and end joints are not seen (a portrait's legs, an
    arm out of the frame) starts as in :data:`HIDDEN_LIMB_POSE`."""
    names, poses, ours = _canonical_points(body)
    w = seen.double()
    w = torch.where(w.sum(1, keepdim=True) >= 3, w, torch.ones_like(w))[..., None]  # (P, N, 1)
    centre = (points3 * w).sum(1, keepdim=True) / w.sum(1, keepdim=True)
    theirs = (points3 - centre) * w  # (P, N, 3), unseen points at zero weight
    scale = theirs.flatten(1).norm(dim=1) / ours.flatten(1).norm(dim=1).mean()
    theirs = theirs / scale[:, None, None]
    cov = torch.einsum("cnk,pnl->pckl", ours, theirs)  # (P, C, 3, 3)
    turn = roma.special_procrustes(cov.transpose(-1, -2).reshape(-1, 3, 3)).reshape(*cov.shape)  # ours -> theirs
    gap = torch.einsum("pckl,cnl->pcnk", turn, ours) - theirs[:, None]
    error = (gap.norm(dim=-1) * w[:, None, :, 0]).sum(-1)  # (P, C)
    best = error.argmin(1)
    orient = turn[torch.arange(len(best)), best] @ roma.rotvec_to_rotmat(poses[best, 0])
    body_pose = poses[best, 1:].clone()
    rest = poses[names.index(HIDDEN_LIMB_POSE), 1:] if HIDDEN_LIMB_POSE in names else torch.zeros_like(body_pose[0])
    for points, joints in _LIMBS.values():
        hidden = ~seen[:, [_INDEX[n] for n in points]].any(1)  # (P,)
        index = torch.tensor([j - 1 for j in joints])
        body_pose[hidden.nonzero().flatten()[:, None], index] = rest[index]
    return [names[int(b)] for b in best], orient, body_pose


def reprojection(joints: torch.Tensor, people: list[PhotoPerson], min_visibility: float = 0.5):
    """The fitted joints projected into each photo ``(P, 24, 2)`` pixels (orthographic, the scale and
    shift that best put the fit's points on the visible landmarks), and the mean distance between those
    points and the landmarks in percent of the person's height ``(P,)``."""
    flip = torch.tensor([1.0, -1.0]).to(joints)  # image y down
    points, every = (_FROM_JOINTS.to(joints) @ joints)[..., :2] * flip, joints[..., :2] * flip
    out, error = [], []
    for p, person in enumerate(people):
        target = _FROM_LANDMARKS.to(joints) @ torch.as_tensor(person.image_xy).to(joints)
        seen = ((_FROM_LANDMARKS.to(joints) * torch.as_tensor(person.visibility >= min_visibility).to(joints))
                .sum(-1) >= _FROM_LANDMARKS.to(joints).sum(-1) - 1e-9)
        if seen.sum() < 2:
            seen = torch.ones_like(seen)
        a, b = points[p][seen], target[seen]
        ac, bc = a - a.mean(0), b - b.mean(0)
        scale = (ac * bc).sum() / (ac * ac).sum().clamp_min(1e-9)
        projected = (points[p] - a.mean(0)) * scale + b.mean(0)
        out.append((every[p] - a.mean(0)) * scale + b.mean(0))
        error.append((projected[seen] - target[seen]).norm(dim=-1).mean() / max(person.height_px, 1.0) * 100)
    return torch.stack(out), torch.stack(error)


def _optimise(body, optimiser, orient6, pose, start_pose, limits, targets, config: FitConfig) -> None:
    """Adam on the directions' loss and the priors (see the module docstring)."""
    (low, high), (d3, d2, weight) = limits, targets
    total = weight.sum(1).clamp_min(1.0)
    for _ in range(config.steps):
        optimiser.zero_grad()
        rot = roma.special_gramschmidt(orient6)  # (P, 3, 3)
        joints = body(rot, pose, joints_only=True, validate=False).joints  # (P, 24, 3)
        bones = bone_vectors(joints)
        cos3 = (torch.nn.functional.normalize(bones, dim=-1) * d3).sum(-1)
        cos2 = (torch.nn.functional.normalize(bones[..., :2], dim=-1) * d2).sum(-1)
        loss = (((1 - cos3) + config.image_weight * (1 - cos2)) * weight).sum(1) / total
        loss = loss + config.limit_weight * ((low - pose).relu() + (pose - high).relu()).sum((1, 2))
        loss = loss + config.start_weight * (pose - start_pose).pow(2).sum((1, 2))
        loss.sum().backward()
        optimiser.step()


@functools.lru_cache(maxsize=1)
def _joint_limits():
    return load_joint_limits()


def fit_people(people: list[PhotoPerson], body: BodyModel | None = None, config: FitConfig = FitConfig()) -> PhotoFit:
    """Fit an SMPL pose to each person's landmarks (see the module docstring)."""
    if not people:
        raise ValueError("no people to fit: find_people() found none")
    for k, person in enumerate(people):  # refused where they enter: a NaN would come out as a "plausible" pose
        for field, shape in (("image_xy", (33, 2)), ("visibility", (33,)), ("world", (33, 3))):
            value = np.asarray(getattr(person, field), dtype=np.float64)
            if value.shape != shape:
                raise ValueError(f"person {k}: {field} must have shape {shape}, got {value.shape}")
            if not np.isfinite(value).all():
                raise ValueError(f"person {k}: {field} holds NaN or infinite values (landmark "
                                 f"{int(np.argwhere(~np.isfinite(value))[0][0])}): the landmarks are damaged; "
                                 "read the photo again (find_people)")
    start_time = time.time()
    body = body or load_body_model()
    limits = _joint_limits()
    d3, d2, weight, points3, seen = _targets(people, config.min_visibility)
    names, orient, body_pose = _start(points3, seen, body)
    orient6 = orient.float()[..., :2].clone().requires_grad_(True)  # (P, 3, 2): the rotation's first two columns
    start_pose = body_pose.float()
    pose = start_pose.clone().requires_grad_(True)
    low, high = limits.low[1:].float(), limits.high[1:].float()
    optimiser = torch.optim.Adam([orient6, pose], lr=config.lr)
    d3, d2, weight = d3.float(), d2.float(), weight.float()
    with torch.enable_grad():  # the fit optimises even when the caller runs without gradients
        _optimise(body, optimiser, orient6, pose, start_pose, (low, high), (d3, d2, weight), config)
    with torch.no_grad():
        rot = roma.special_gramschmidt(orient6)
        full = torch.cat([roma.rotmat_to_rotvec(rot)[:, None], pose], 1)  # (P, 24, 3)
        out = body(full[:, 0], full[:, 1:], joints_only=True)
        projected, error = reprojection(out.joints, people)
        # the support check needs to know who stands: a photo does not say, so limits and intersections only
        report = check_plausible(full, out.joints, torch.zeros(len(people), dtype=torch.bool), limits)
    return PhotoFit(full, out.joints, names, error.float(), report.ok, projected.float(), time.time() - start_time)
