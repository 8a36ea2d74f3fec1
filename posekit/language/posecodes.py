"""Posecodes: rule-based, binned descriptions of a 3D pose (after PoseScript, Delmas et al. 2022).

A posecode measures one geometric quantity on the joints (an angle at a knee, the distance
between the hands, whether a hand is above the head, ...) and bins it into a category with
fixed thresholds. Everything is computed at once on a batch of joints ``(B, J, 3)``:
:func:`evaluate` returns a :class:`PosecodeResult` holding ``values (B, N)`` and
``categories (B, N)`` for the ``N`` posecodes of :data:`POSECODES` (super-posecodes, built
from several posecodes, come last).

Joints are first normalised (:func:`normalize_joints`): pelvis at the origin and the body
turned about the vertical axis so that the hips line points along +x (the body faces +z),
so that left/right, front/behind are the body's own. A body lying on its side (hips line
near vertical) is turned so that its front faces +z instead.

Body parts follow PoseScript: "hands" are SMPL's hand joints (``left_hand``, between the
wrist and the middle finger), "feet" its foot joints (``left_foot``, the ball of the foot).
Where posekit keeps a rule of its own, the README's captioner table says why.

Deterministic mode (``generator=None``) is a pure function of the pose: the metrics use it.
With a ``torch.Generator``, every threshold gets a small random offset before binning
(per pose and posecode), as PoseScript does to soften the bin edges in captions.
"""
from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Sequence

import torch

from posekit.body.skeleton import JOINT_INDEX, JOINT_NAMES, NUM_JOINTS
from posekit.language.posecode_specs import (  # the registry, re-exported: posecodes are read where they are computed
    BASE_POSECODES,
    CONTACT_DISTANCE,
    IGNORED,
    KINDS,
    LEVEL_DEGREES,
    PART_INDEX,
    POSECODE_COLUMN,
    POSECODES,
    SUPER_POSECODES,
    UPRIGHT_MARGIN,
    VIRTUAL_JOINTS,
    Posecode,
    PosecodeSpec,
    posecode_index,
)

__all__ = [
    "PosecodeSpec", "Posecode", "PosecodeResult", "POSECODES", "IGNORED", "KINDS",
    "normalize_joints", "smpl_joints", "compute_posecodes", "posecode_index", "CONTACT_DISTANCE", "LEVEL_DEGREES",
]


_SMPLH_HAND_ROOTS = {"smplh": (25, 40), "smplx": (28, 43)}


def smpl_joints(joints: torch.Tensor, layout: str = "smpl") -> torch.Tensor:
    """SMPL's 24 joints ``(B, 24, 3)`` from SMPL (24), SMPL-H (52) or SMPL-X (55) joints.

    SMPL-H / SMPL-X share SMPL's first 22 joints; the middle-finger roots stand in for
    SMPL's hand joints.
    """
    if layout == "smpl":
        return joints
    if layout not in _SMPLH_HAND_ROOTS:
        raise ValueError(f"layout must be 'smpl', 'smplh' or 'smplx', got {layout!r}")
    expected = 52 if layout == "smplh" else 55
    if joints.dim() != 3 or joints.shape[1] < expected:
        raise ValueError(f"{layout} joints must have shape (B, {expected}, 3), got {tuple(joints.shape)}")
    left, right = _SMPLH_HAND_ROOTS[layout]
    return torch.cat([joints[:, :22], joints[:, [left, right]]], dim=1)


MAX_BODY_SPREAD = 3.0
"""Largest distance (metres) of a joint from the joints' centre that a human body reaches (about
1.2 m with arms raised); joints farther out were given in other units and are warned about."""


def _check_joints(joints: torch.Tensor) -> None:
    if not isinstance(joints, torch.Tensor):
        raise ValueError(f"joints must be a torch.Tensor (B, 24, 3), got {type(joints).__name__}")
    if joints.dim() != 3 or joints.shape[1] != NUM_JOINTS or joints.shape[2] != 3:
        raise ValueError(f"joints must have shape (B, {NUM_JOINTS}, 3) (SMPL order; convert SMPL-H/X joints with "
                         f"smpl_joints(joints, 'smplh')), got {tuple(joints.shape)}")
    if not joints.is_floating_point():
        raise ValueError(f"joints must be floating point, got {joints.dtype}")
    if not torch.isfinite(joints).all():
        raise ValueError("joints contain NaN or inf values")
    spread = (joints - joints.mean(1, keepdim=True)).norm(dim=-1).amax(1)  # (B,)
    if (spread < 1e-4).any():
        bad = torch.nonzero(spread < 1e-4).flatten()[:5].tolist()
        raise ValueError(f"degenerate pose(s) at batch index {bad}: all joints coincide; posecodes need a skeleton")
    if (spread > MAX_BODY_SPREAD).any():
        index = int(spread.argmax())
        warnings.warn(f"joints of pose {index} lie up to {float(spread[index]):.3g} units from their centre, but posecodes "
                      f"measure in metres (a body spans under {MAX_BODY_SPREAD:g} m): if they are millimetres divide them by "
                      "1000, centimetres by 100; the captions of such poses are wrong", UserWarning, stacklevel=3)


def normalize_joints(joints: torch.Tensor) -> torch.Tensor:
    """Pelvis to the origin, then turn about y so that the hips line points along +x.

    joints: ``(B, 24, 3)``. Returns ``(B, 24, 3)``. When the hips line is (nearly) vertical
    (lying on the side, a cartwheel) its heading is undefined, so the body is turned so that
    its front (hips line x torso) faces +z instead: lying on the left side then has the left
    hip below the right one, whatever the heading it came with (no left/right flip).
    """
    _check_joints(joints)
    centred = joints - joints[:, :1]
    across = centred[:, JOINT_INDEX["left_hip"]] - centred[:, JOINT_INDEX["right_hip"]]  # (B, 3)
    torso = centred[:, JOINT_INDEX["neck"]]  # (B, 3) pelvis -> neck
    front = torch.cross(across, torso, dim=-1)  # (B, 3) the body's forward direction
    # The hips line direction that a front facing +z implies: rotate the front by -90 degrees about y.
    across_from_front = torch.stack([front[:, 2], torch.zeros_like(front[:, 0]), -front[:, 0]], -1)
    flat = across[:, [0, 2]].norm(dim=-1, keepdim=True)
    across = torch.where(flat > 0.3 * across.norm(dim=-1, keepdim=True), across, across_from_front)
    phi = torch.atan2(across[:, 2], across[:, 0])  # rotating by phi about y sends `across` onto +x
    c, s = torch.cos(phi), torch.sin(phi)
    zero, one = torch.zeros_like(c), torch.ones_like(c)
    rot = torch.stack([c, zero, s, zero, one, zero, -s, zero, c], -1).reshape(-1, 3, 3)  # (B, 3, 3)
    return centred @ rot.transpose(-1, -2)


@dataclasses.dataclass(frozen=True)
class PosecodeResult:
    """Posecodes of a batch of poses."""

    values: torch.Tensor
    """``(B, N)`` measured values (degrees, metres, or 0/1 for super-posecodes; NaN if not measured)."""
    categories: torch.Tensor
    """``(B, N)`` category index per posecode (see ``POSECODES[n].categories``)."""
    specs: tuple[PosecodeSpec, ...] = POSECODES

    def __len__(self) -> int:
        return self.values.shape[0]

    def category(self, b: int, name: str) -> str:
        """Category name of posecode ``name`` for pose ``b``."""
        n = posecode_index(name)
        return self.specs[n].categories[int(self.categories[b, n])]

    def records(self, b: int, include_ignored: bool = False) -> list[Posecode]:
        """Typed posecodes of pose ``b`` (without the ``ignored`` ones by default)."""
        cats = self.categories[b].tolist()
        vals = self.values[b].tolist()
        out = []
        for spec, c, v in zip(self.specs, cats, vals):
            cat = spec.categories[c]
            if spec.kind == "super" and cat == "no" and not include_ignored:
                continue
            if cat != IGNORED or include_ignored:
                out.append(Posecode(spec.kind, spec.joints, cat, v, spec.name))
        return out

    def active(self, b: int) -> set[tuple[str, str]]:
        """``{(posecode name, category)}`` of pose ``b``, without ignored ones: what metrics compare."""
        return {(p.name, p.category) for p in self.records(b)}

    def to_dataframe(self, include_ignored: bool = False):
        """Long table: one row per (pose, posecode) with kind, joints, category and value."""
        import pandas as pd

        rows = []
        for b in range(len(self)):
            for p in self.records(b, include_ignored):
                rows.append({"pose": b, "posecode": p.name, "kind": p.kind, "joints": " / ".join(p.joints),
                             "category": p.category, "value": round(p.value, 3)})
        return pd.DataFrame(rows, columns=["pose", "posecode", "kind", "joints", "category", "value"])


def _gather_parts(joints: torch.Tensor) -> torch.Tensor:
    """Joints ``(B, 24, 3)`` plus virtual parts -> ``(B, 24 + K, 3)`` in ``PART_NAMES`` order."""
    extra = [joints[:, [JOINT_INDEX[j] for j in parts]].mean(1) for parts in VIRTUAL_JOINTS.values()]
    return torch.cat([joints, torch.stack(extra, 1)], 1)


def _pairs(specs: list[PosecodeSpec]) -> tuple[list[int], list[int]]:
    return [PART_INDEX[s.joints[0]] for s in specs], [PART_INDEX[s.joints[1]] for s in specs]


def _angle_between(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Angle (degrees) between vectors ``(..., 3)``; atan2 stays accurate near 0 and 180."""
    return torch.rad2deg(torch.atan2(torch.cross(u, v, dim=-1).norm(dim=-1), (u * v).sum(-1)))


_HEAD_CHAIN = [JOINT_INDEX[j] for j in ("spine1", "spine2", "spine3", "neck", "head")]


def _head_angles(rotmats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Incline, turn, tilt (degrees) of the head from local rotations ``(B, 24, 3, 3)``.

    Incline and tilt are relative to the upper back (the neck and head rotations composed);
    the turn is relative to the pelvis (the chain spine1 .. head composed), as PoseScript
    measures it, so that a head turned with the shoulders counts as turned."""
    rel = rotmats[:, JOINT_INDEX["neck"]] @ rotmats[:, JOINT_INDEX["head"]]  # (B, 3, 3)
    forward, up = rel[:, :, 2], rel[:, :, 1]
    incline = torch.rad2deg(torch.asin((-forward[:, 1]).clamp(-1, 1)))
    tilt = torch.rad2deg(torch.asin(up[:, 0].clamp(-1, 1)))
    chain = rotmats[:, _HEAD_CHAIN[0]]
    for j in _HEAD_CHAIN[1:]:
        chain = chain @ rotmats[:, j]  # (B, 3, 3)
    turn = torch.rad2deg(torch.atan2(chain[:, 0, 2], chain[:, 2, 2]))
    return incline, turn, tilt


_JOINT_RADIUS = torch.tensor([
    {"pelvis": 0.10, "head": 0.10, "left_ankle": 0.07, "right_ankle": 0.07, "left_foot": 0.03, "right_foot": 0.03,
     "left_knee": 0.05, "right_knee": 0.05, "left_wrist": 0.03, "right_wrist": 0.03, "left_hand": 0.02,
     "right_hand": 0.02, "left_elbow": 0.04, "right_elbow": 0.04}.get(name, 0.08) for name in JOINT_NAMES
])
"""Distance (m) from each joint centre to the skin surface it rests on when touching the floor."""


def _columns_by_kind() -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for n, spec in enumerate(BASE_POSECODES):
        out.setdefault(spec.kind, []).append(n)
    return out


# Index tables computed once (the hot path only gathers and subtracts).
_BY_KIND = _columns_by_kind()
_ANGLE_SPECS = [BASE_POSECODES[n] for n in _BY_KIND["angle"]]
_ANGLE_MID = [JOINT_INDEX[s.joints[0]] for s in _ANGLE_SPECS]
_ANGLE_PARENT = [JOINT_INDEX[s.joints[0].replace("elbow", "shoulder").replace("knee", "hip")] for s in _ANGLE_SPECS]
_ANGLE_CHILD = [JOINT_INDEX[s.joints[0].replace("elbow", "wrist").replace("knee", "ankle")] for s in _ANGLE_SPECS]
_PAIRS = {kind: _pairs([BASE_POSECODES[n] for n in _BY_KIND[kind]])
          for kind in ("distance", "position_x", "position_y", "position_z", "orientation")}
_GROUND_JOINT = [JOINT_INDEX[BASE_POSECODES[n].joints[0]] for n in _BY_KIND["ground"]]
# A foot touches the ground through its heel (the ankle) or its toes (the foot joint).
_GROUND_ALT = [JOINT_INDEX[BASE_POSECODES[n].joints[0].replace("foot", "ankle")] for n in _BY_KIND["ground"]]
_SHOULDERS = [JOINT_INDEX["left_shoulder"], JOINT_INDEX["right_shoulder"]]
_ANKLES = [JOINT_INDEX["left_ankle"], JOINT_INDEX["right_ankle"]]
_LEVEL_PAIRS = {"hands": (JOINT_INDEX["left_hand"], JOINT_INDEX["right_hand"]),
                "feet": (JOINT_INDEX["left_foot"], JOINT_INDEX["right_foot"])}


def _base_values(joints: torch.Tensor, rotmats: torch.Tensor | None) -> torch.Tensor:
    """Values ``(B, N_base)`` of every base posecode on normalised joints ``(B, 24, 3)``."""
    parts = _gather_parts(joints)  # (B, P, 3)
    batch = joints.shape[0]
    values = torch.full((batch, len(BASE_POSECODES)), float("nan"), dtype=joints.dtype, device=joints.device)

    def put(kind: str, v: torch.Tensor) -> None:
        values[:, _BY_KIND[kind]] = v

    J = JOINT_INDEX
    mid = joints[:, _ANGLE_MID]
    put("angle", _angle_between(joints[:, _ANGLE_PARENT] - mid, joints[:, _ANGLE_CHILD] - mid))
    a, b = _PAIRS["distance"]
    put("distance", (parts[:, a] - parts[:, b]).norm(dim=-1))
    for axis, kind in enumerate(("position_x", "position_y", "position_z")):
        a, b = _PAIRS[kind]
        put(kind, parts[:, a, axis] - parts[:, b, axis])
    a, b = _PAIRS["orientation"]
    seg = parts[:, b] - parts[:, a]  # (B, n, 3)
    put("orientation", torch.rad2deg(torch.acos((seg[..., 1].abs() / seg.norm(dim=-1).clamp_min(1e-9)).clamp(0, 1))))
    # Heights of the skin below each joint above the floor (the lowest skin point): joints sit
    # inside the body, a knee centre ~5 cm above the floor when kneeling, an ankle ~7 cm.
    radius = _JOINT_RADIUS.to(joints.dtype).to(joints.device)
    skin_low = joints[..., 1] - radius  # (B, 24)
    height = skin_low - skin_low.amin(1, keepdim=True)
    put("ground", torch.minimum(height[:, _GROUND_JOINT], height[:, _GROUND_ALT]))

    torso = joints[:, J["neck"]] - joints[:, J["pelvis"]]  # (B, 3)
    # Upside-down or lying bodies do not lean: lean is measured only when an ankle is clearly
    # below the shoulders.
    upright = joints[:, _ANKLES, 1].amin(1) < joints[:, _SHOULDERS, 1].amin(1) - UPRIGHT_MARGIN  # (B,)
    nan = torch.full_like(torso[:, 0], float("nan"))
    inclination = torch.rad2deg(torch.atan2(torso[:, 2], torso[:, 1]))
    put("inclination", torch.where(upright, inclination, nan)[:, None])
    # Sideways: the torso's elevation towards +x (stable when lying, unlike atan2(x, y)).
    side = torch.rad2deg(torch.asin((torso[:, 0] / torso.norm(dim=-1).clamp_min(1e-9)).clamp(-1, 1)))
    put("side_lean", torch.where(upright, side, nan)[:, None])
    shoulders = joints[:, J["left_shoulder"]] - joints[:, J["right_shoulder"]]
    # Twist: signed angle from the hips line to the shoulders line about the torso axis (both
    # projected on the plane across the torso), so that it means the same standing or lying.
    hips = joints[:, J["left_hip"]] - joints[:, J["right_hip"]]
    axis = torso / torso.norm(dim=-1, keepdim=True).clamp_min(1e-9)
    h = hips - (hips * axis).sum(-1, keepdim=True) * axis
    sh = shoulders - (shoulders * axis).sum(-1, keepdim=True) * axis
    twist = torch.atan2((axis * torch.cross(h, sh, dim=-1)).sum(-1), (h * sh).sum(-1))
    put("twist", torch.rad2deg(twist)[:, None])
    forward = torch.cross(shoulders, torso, dim=-1)
    put("facing", (forward[:, 1] / forward.norm(dim=-1).clamp_min(1e-9))[:, None])
    if rotmats is not None:
        incline, turn, tilt = _head_angles(rotmats)
    else:  # joints only: the neck's direction relative to the torso; the turn is not observable
        neck = joints[:, J["head"]] - joints[:, J["neck"]]
        incline = torch.rad2deg(torch.atan2(neck[:, 2], neck[:, 1]) - torch.atan2(torso[:, 2], torso[:, 1]))
        tilt = -torch.rad2deg(torch.atan2(neck[:, 0], neck[:, 1]) - torch.atan2(torso[:, 0], torso[:, 1]))
        turn = torch.full_like(incline, float("nan"))
    put("head_incline", incline[:, None])
    put("head_turn", turn[:, None])
    put("head_tilt", tilt[:, None])
    return values


def _level(joints: torch.Tensor) -> dict[str, torch.Tensor]:
    """Whether the hands (feet) are roughly level: their line within :data:`LEVEL_DEGREES` of the horizontal."""
    out = {}
    for name, (a, b) in _LEVEL_PAIRS.items():
        d = joints[:, a] - joints[:, b]  # (B, 3)
        elevation = torch.rad2deg(torch.atan2(d[:, 1].abs(), d[:, [0, 2]].norm(dim=-1)))
        out[name] = elevation <= LEVEL_DEGREES
    return out


def _thresholds(specs: Sequence[PosecodeSpec], dtype, device) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(s.thresholds) for s in specs)
    edges = torch.full((len(specs), width), float("inf"), dtype=dtype, device=device)
    noise = torch.tensor([s.noise for s in specs], dtype=dtype, device=device)
    for n, s in enumerate(specs):
        edges[n, : len(s.thresholds)] = torch.tensor(s.thresholds, dtype=dtype)
    return edges, noise


_EDGE_CACHE: dict[tuple, tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = {}


def _bin(values: torch.Tensor, specs: Sequence[PosecodeSpec], generator: torch.Generator | None) -> torch.Tensor:
    """Category indices ``(B, N)`` of values ``(B, N)``: how many bin edges each value exceeds."""
    key = (len(specs), values.dtype, str(values.device))
    if key not in _EDGE_CACHE:
        edges, noise = _thresholds(specs, values.dtype, values.device)
        # Unmeasured (NaN) values land in the ignored category when there is one, else the lowest bin.
        ignored = torch.tensor([s.categories.index(IGNORED) if IGNORED in s.categories else 0 for s in specs],
                               device=values.device)
        _EDGE_CACHE[key] = (edges, noise, ignored)
    edges, noise, ignored = _EDGE_CACHE[key]
    if generator is not None:  # moving every edge of a posecode by +o is moving its value by -o
        offset = (torch.rand(values.shape, generator=generator, dtype=values.dtype) * 2 - 1).to(values.device)
        values = values - offset * noise
    cats = torch.zeros(values.shape, dtype=torch.uint8, device=values.device)
    for k in range(edges.shape[1]):  # one (B, N) comparison per edge: cheaper than a (B, N, K) tensor
        cats += values > edges[:, k]
    return torch.where(torch.isnan(values), ignored, cats.long())


def _super_values(cats: torch.Tensor, level: dict[str, torch.Tensor]) -> torch.Tensor:
    """Super-posecodes ``(B, N_super)`` (1.0 when they hold) from base categories ``(B, N_base)``
    and the level conditions of :func:`_level`."""
    def cat(name: str) -> torch.Tensor:
        return cats[:, POSECODE_COLUMN[name]]

    def is_(name: str, *labels: str) -> torch.Tensor:
        spec = POSECODES[POSECODE_COLUMN[name]]
        return torch.stack([cat(name) == spec.categories.index(label) for label in labels]).any(0)

    bent = ("completely bent", "bent more", "right angle", "bent less")
    knee_l = is_("ground:left_knee", "on the ground") & is_("angle:left_knee", *bent)
    knee_r = is_("ground:right_knee", "on the ground") & is_("angle:right_knee", *bent)
    horizontal = is_("orientation:pelvis-neck", "horizontal")
    out = {
        "kneeling": knee_l & knee_r,
        "kneeling on the left knee": knee_l & ~knee_r,
        "kneeling on the right knee": knee_r & ~knee_l,
        "squatting": is_("angle:left_knee", "completely bent", "bent more") & is_("angle:right_knee", "completely bent", "bent more")
        & is_("ground:left_foot", "on the ground") & is_("ground:right_foot", "on the ground") & ~knee_l & ~knee_r,
        "lying on the back": horizontal & is_("facing", "facing up"),
        "lying face down": horizontal & is_("facing", "facing down"),
        "torso horizontal": horizontal & ~is_("facing", "facing up", "facing down"),
        "hands shoulder-width apart": is_("distance:left_hand-right_hand", "shoulder width") & level["hands"],
        "feet shoulder-width apart": is_("distance:left_foot-right_foot", "shoulder width") & level["feet"],
        "arms crossed": is_("position_x:left_hand-right_hand", "at the right of")
        & is_("position_z:left_hand-torso", IGNORED, "in front of") & is_("position_z:right_hand-torso", IGNORED, "in front of"),
        "hands on the hips": is_("distance:left_hand-left_hip", "close") & is_("distance:right_hand-right_hip", "close"),
    }
    return torch.stack([out[name] for name in SUPER_POSECODES], 1).to(torch.float32)


def compute_posecodes(joints: torch.Tensor, rotmats: torch.Tensor | None = None,
                      generator: torch.Generator | None = None, layout: str = "smpl") -> PosecodeResult:
    """Posecodes of a batch of poses.

    Args:
        joints: ``(B, 24, 3)`` SMPL joints in metres (any global position and heading), or
            SMPL-H / SMPL-X joints with ``layout="smplh"`` / ``"smplx"``.
        rotmats: optional ``(B, 24, 3, 3)`` local joint rotations (``BodyOutput.rotmats``);
            they make the head codes exact (turn included). Without them the head incline
            and tilt come from the neck, and the head turn is not measured.
        generator: ``None`` for deterministic binning; a ``torch.Generator`` adds a random
            offset to each threshold (per pose and posecode).
        layout: joint layout of ``joints``.

    Raises:
        ValueError: wrong shape, NaN/inf (in joints or rotmats), or a degenerate pose (all joints equal).
    """
    joints = normalize_joints(smpl_joints(joints, layout))
    if rotmats is not None and (rotmats.dim() != 4 or tuple(rotmats.shape[1:]) != (NUM_JOINTS, 3, 3)
                                or rotmats.shape[0] != joints.shape[0]):
        raise ValueError(f"rotmats must have shape ({joints.shape[0]}, {NUM_JOINTS}, 3, 3), got {tuple(rotmats.shape)}")
    if rotmats is not None and not torch.isfinite(rotmats).all():
        bad = torch.nonzero(~torch.isfinite(rotmats).reshape(len(rotmats), -1).all(1)).flatten()[:5].tolist()
        raise ValueError(f"rotmats contain NaN or inf values at batch index {bad}")
    values = _base_values(joints, rotmats.to(joints.dtype) if rotmats is not None else None)
    cats = _bin(values, BASE_POSECODES, generator)
    supers = _super_values(cats, _level(joints)).to(values.dtype)
    return PosecodeResult(values=torch.cat([values, supers], 1), categories=torch.cat([cats, supers.long()], 1))

