"""Pose pair -> instruction, PoseFix-style: how to go from pose A to pose B.

"Paircodes" are the posecodes whose category changes between A and B (a hand that was
below the head and is now above it, a knee that bends, a body that starts leaning
forward), plus the change of heading. Each becomes an imperative ("raise your left arm
above your head", "bend your right knee"), ranked by how far the joints involved moved,
aggregated like captions (left/right twins -> "both knees", hand + elbow -> "arm"), and
joined into one instruction.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from posekit.body.skeleton import JOINT_INDEX
from posekit.configs import check_field_types
from posekit.language.phrasing import Chooser, Fact, entity_phrase, merge_limbs, merge_twins, side_base
from posekit.language.posecodes import IGNORED, POSECODES, SUPER_POSECODES, compute_posecodes, normalize_joints

__all__ = ["PairCode", "paircodes", "instruct", "InstructionConfig", "pose_instructions", "UNCHANGED", "STANDING_TEXTS"]


@dataclasses.dataclass(frozen=True)
class PairCode:
    """One change between pose A and pose B."""

    name: str
    kind: str
    joints: tuple[str, ...]
    before: str
    after: str
    delta: float
    """Value of B minus value of A (degrees or metres; +1/-1 for super-posecodes)."""
    motion: float
    """Largest displacement (m) of the joints involved, both poses normalised: the ranking key
    (for head rotations: the arc a 10 cm head radius sweeps)."""
    subject_motion: float = 0.0
    """Displacement (m) of the first body part (the subject of a relation)."""
    object_motion: float = 0.0
    """Displacement (m) of the second body part (the object of a relation), if any."""


@dataclasses.dataclass(frozen=True)
class InstructionConfig:
    max_changes: int = 4
    """Most changes put into one instruction (the largest motions first)."""
    min_motion: float = 0.03
    """Changes whose joints moved less than this (m) are noise and dropped."""
    turns: bool = True
    """Say "turn to your left" when the heading changed by more than 45 degrees."""
    arrivals_only: bool = False
    """Say only changes *into* a describable state ("raise", "bend", "kneel", "lift your foot off
    the ground"), not those back to neutral ("move your hand in line with your torso", "take
    your hands off your hips"): what fits when A is a neutral start rather than a real pose."""
    body_first: bool = False
    """Rank leaning (forward, back, sideways) with the whole-body changes (kneel, squat, lie
    down) before every limb's, whatever the motion: a short instruction then says the posture first."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.max_changes < 1 or self.min_motion < 0:
            raise ValueError(f"need max_changes >= 1 and min_motion >= 0, got {self.max_changes}, {self.min_motion}")


_PART_JOINTS = {"torso": ("spine2", "spine3"), "hips": ("left_hip", "right_hip")}


def _joint_ids(names: tuple[str, ...]) -> list[int]:
    ids = []
    for n in names:
        ids += [JOINT_INDEX[j] for j in _PART_JOINTS.get(n, (n,))]
    return ids


def _heading(joints: torch.Tensor) -> torch.Tensor:
    across = joints[:, JOINT_INDEX["left_hip"]] - joints[:, JOINT_INDEX["right_hip"]]
    return torch.atan2(across[:, 2], across[:, 0])  # (B,)


def paircodes(joints_a: torch.Tensor, joints_b: torch.Tensor, rotmats_a: torch.Tensor | None = None,
              rotmats_b: torch.Tensor | None = None) -> list[list[PairCode]]:
    """Changes from A to B for a batch of pairs: joints ``(B, 24, 3)`` each (rotations optional).

    Deterministic (no random offsets). Returns one list per pair, largest motion first.
    """
    if joints_a.shape != joints_b.shape:
        raise ValueError(f"joints_a and joints_b must have the same shape, got {tuple(joints_a.shape)} and {tuple(joints_b.shape)}")
    res_a, res_b = compute_posecodes(joints_a, rotmats_a), compute_posecodes(joints_b, rotmats_b)
    motion = (normalize_joints(joints_b) - normalize_joints(joints_a)).norm(dim=-1)  # (B, 24)
    turn = torch.rad2deg(_heading(joints_a) - _heading(joints_b))
    turn = (turn + 180.0) % 360.0 - 180.0  # (B,) heading change, positive = turned to the left
    out = []
    cat_a, cat_b = res_a.categories.numpy(), res_b.categories.numpy()
    delta_all = (res_b.values - res_a.values).nan_to_num(0.0).numpy()
    motion = motion.numpy()  # (B, 24)
    part_motion = motion @ _PART_AVERAGE  # (B, P): joints, then torso and hips
    changed_rows = cat_a != cat_b
    for b in range(joints_a.shape[0]):
        changes = []
        for n in np.flatnonzero(changed_rows[b] & _DESCRIBABLE):
            spec = POSECODES[n]
            delta = float(delta_all[b, n])
            moved = float(motion[b, _MOTION_IDS[n]].max())
            if spec.kind.startswith("head_"):
                moved = 0.10 * math.radians(abs(delta))
            parts = [float(part_motion[b, col]) for col in _PART_COLS[n]] + [0.0, 0.0]
            changes.append(PairCode(spec.name, spec.kind, spec.joints, spec.categories[cat_a[b, n]],
                                    spec.categories[cat_b[b, n]], delta, moved, parts[0], parts[1]))
        if abs(float(turn[b])) > 45.0:
            changes.append(PairCode("turn", "turn", (), "", "left" if turn[b] > 0 else "right", float(turn[b]), 1.0))
        changes.sort(key=lambda c: (c.kind not in ("super", "turn"), -c.motion))
        out.append(changes)
    return out


_NAME_INDEX = {spec.name: i for i, spec in enumerate(POSECODES)}


def _idx(name: str) -> int:
    return _NAME_INDEX[name]

_CHILD = {"elbow": "wrist", "knee": "ankle"}


def _motion_joints(spec) -> list[int]:
    """Joints whose displacement tells how much a posecode's change moved the body."""
    if spec.kind == "super":
        names = tuple(j for name in SUPER_POSECODES[spec.name[6:]] for j in POSECODES[_idx(name)].joints)
        return _joint_ids(names)
    if spec.kind == "angle":  # a bending joint stays put: its child moves
        side, base = spec.joints[0].split("_", 1)
        return _joint_ids((spec.joints[0], f"{side}_{_CHILD[base]}"))
    return _joint_ids(spec.joints)


_DESCRIBABLE = np.array([spec.kind != "facing" for spec in POSECODES])
_MOTION_IDS = [_motion_joints(spec) for spec in POSECODES]
_PARTS = list(JOINT_INDEX) + list(_PART_JOINTS)
_PART_AVERAGE = np.zeros((len(JOINT_INDEX), len(_PARTS)))  # (24, P): joint motions -> part motions
for _col, _part in enumerate(_PARTS):
    _ids = _joint_ids((_part,))
    _PART_AVERAGE[_ids, _col] = 1.0 / len(_ids)
_PART_COLS = [[_PARTS.index(j) for j in spec.joints[:2]] if spec.kind != "super" else [] for spec in POSECODES]


# --- text ----------------------------------------------------------------------------------
_OBJ_PRIORITY = {"head": 3, "left_shoulder": 2, "right_shoulder": 2, "both:shoulder": 2, "hips": 1}
_SUPER_ON = {
    "kneeling": ("kneel down on both knees", "get down on your knees"),
    "kneeling on the left knee": ("kneel on your left knee", "go down on your left knee"),
    "kneeling on the right knee": ("kneel on your right knee", "go down on your right knee"),
    "squatting": ("squat down", "go into a deep squat"),
    "lying on the back": ("lie down on your back",), "lying face down": ("lie face down on the ground",),
    "torso horizontal": ("bring your torso horizontal", "bend your torso until it is parallel to the ground"),
    "arms crossed": ("cross your arms",), "hands on the hips": ("put your hands on your hips",),
}
_SUPER_OFF = {
    "kneeling": ("get up from your knees",), "kneeling on the left knee": ("lift your left knee off the ground",),
    "kneeling on the right knee": ("lift your right knee off the ground",), "squatting": ("stand up from the squat",),
    "lying on the back": ("get up from the ground",), "lying face down": ("get up from the ground",),
    "torso horizontal": ("straighten your torso up",), "arms crossed": ("uncross your arms",),
    "hands on the hips": ("take your hands off your hips",),
}


def _your(entity: str | None, choose: Chooser) -> str:
    if entity is None:
        return ""
    noun, _ = entity_phrase(entity)
    if entity.startswith("both:") and choose.chance(0.5):
        return f"both {noun}"
    return f"your {noun}"


def _phrase(fact: Fact, change: PairCode, choose: Chooser) -> str | None:
    subj, obj = _your(fact.subjects[0], choose), _your(fact.obj, choose)
    before, after, kind = change.before, change.after, change.kind
    if kind == "super":
        name = change.name[6:]
        table = _SUPER_ON if after == "yes" else _SUPER_OFF
        return choose.pick(table[name]) if name in table else None
    if kind == "turn":
        return "turn around" if abs(change.delta) > 135 else f"turn to your {after}"
    if kind == "angle":
        cats = POSECODES[_idx(change.name)].categories
        if cats.index(after) < cats.index(before):  # categories run from most to least bent
            extra = {"completely bent": " completely", "right angle": " at a right angle"}.get(after, "")
            return f"{choose.pick(('bend', 'flex'))} {subj}{extra}"
        return f"straighten {subj}" if after == "straight" else f"bend {subj} less"
    if kind == "distance":
        closer = change.delta < 0
        if fact.obj is None:
            if closer:
                return f"bring {subj} together" if after == "close" else f"bring {subj} closer together"
            return f"spread {subj} wide apart" if after == "wide" else f"move {subj} further apart"
        if after == "close":
            return f"{choose.pick(('bring', 'put', 'move'))} {subj} {choose.pick(('next to', 'close to'))} {obj}"
        return f"move {subj} away from {obj}"
    if kind == "position_y":
        if after == "above":
            return f"{choose.pick(('raise', 'lift'))} {subj} above {obj}"
        if after == "below":
            return f"lower {subj} below {obj}"
        return f"{'lower' if before == 'above' else 'raise'} {subj} to the level of {obj}"
    if kind == "position_z":
        if after == "in front of":
            return f"{choose.pick(('move', 'bring'))} {subj} in front of {obj}"
        if after == "behind":
            return f"move {subj} behind {obj}"
        return f"bring {subj} {'back' if before == 'in front of' else 'forward'} in line with {obj}"
    if kind == "position_x":
        if after == IGNORED:
            return f"move {subj} in line with {obj}"
        return f"move {subj} to the {'left' if after == 'at the left of' else 'right'} of {obj}"
    if kind == "orientation":
        if after == "horizontal":
            return f"{choose.pick(('bring', 'put'))} {subj} {choose.pick(('horizontal', 'parallel to the ground'))}"
        if after == "vertical":
            return f"make {subj} vertical"
        return None
    if kind == "ground":
        return f"put {subj} on the ground" if after != IGNORED else f"lift {subj} off the ground"
    if kind in ("inclination", "side_lean"):
        if after == IGNORED:
            return choose.pick(("straighten your back", "stand up straight"))
        direction = after.replace("leaning ", "").replace(" a lot", "")
        amount = " a lot" if after.endswith("a lot") else ""
        return f"lean {'to your ' if kind == 'side_lean' else ''}{direction}{amount}"
    if kind == "twist":
        if after == IGNORED:
            return "untwist your torso"
        return f"twist your torso to the {'left' if 'left' in after else 'right'}{' a lot' if 'a lot' in after else ''}"
    if kind == "head_incline":
        if after == IGNORED:
            return "bring your head back to neutral"
        return choose.pick(("lower your head", "look down")) if "forward" in after else choose.pick(("tilt your head back", "look up"))
    if kind == "head_turn":
        return "face forward" if after == IGNORED else f"turn your head to the {'left' if 'left' in after else 'right'}"
    if kind == "head_tilt":
        return "straighten your head" if after == IGNORED else f"tilt your head to the {'left' if 'left' in after else 'right'}"
    return None


_LIMB_OF = {"hand": "arm", "elbow": "arm", "arm": "arm", "foot": "leg", "knee": "leg", "leg": "leg"}


def _dedupe_heights(pairs: list[tuple[Fact, PairCode]]) -> list[tuple[Fact, PairCode]]:
    """Keep one raise/lower per limb, the one with the highest reference (head > shoulder >
    hips), and name the whole arm when it goes above the head ("raise your left arm")."""
    best: dict[tuple, int] = {}
    for i, (fact, change) in enumerate(pairs):
        side, base = side_base(fact.subjects[0])
        if change.kind != "position_y" or base not in _LIMB_OF:
            continue
        key = (side, _LIMB_OF[base], change.after)
        if key not in best or _OBJ_PRIORITY.get(fact.obj, 0) > _OBJ_PRIORITY.get(pairs[best[key]][0].obj, 0):
            best[key] = i
    raised = {(side, limb) for (side, limb, _after) in best}
    segment_limb = {"shoulder-elbow": "arm", "elbow-wrist": "arm", "arm": "arm", "hip-knee": "leg", "knee-ankle": "leg",
                    "leg": "leg"}
    out = []
    for i, (fact, change) in enumerate(pairs):
        side, base = side_base(fact.subjects[0])
        if change.kind == "orientation" and (side, segment_limb.get(base)) in raised:
            continue  # "raise your arm above your head" already says it
        if change.kind == "position_y" and base in _LIMB_OF:
            if i not in best.values():
                continue
            if base in ("hand", "elbow") and fact.obj == "head":
                subject = "both:arm" if side == "both" else f"{side}_arm"
                fact = Fact(fact.kind, fact.category, [subject], fact.obj, fact.sources)
        out.append((fact, change))
    return out


def instruct(joints_a: torch.Tensor, joints_b: torch.Tensor, rotmats_a: torch.Tensor | None = None,
             rotmats_b: torch.Tensor | None = None, seed: int | None = 0,
             config: InstructionConfig = InstructionConfig()) -> list[str]:
    """Instructions ``(B,)`` that turn pose A into pose B (joints ``(B, 24, 3)`` each).

    ``seed=None`` gives the deterministic wording; instruction ``i`` depends only on
    ``(pair i, seed, i)``.
    """
    texts = []
    for b, changes in enumerate(paircodes(joints_a, joints_b, rotmats_a, rotmats_b)):
        rng = None if seed is None else np.random.default_rng([int(seed), b, 1])
        choose = Chooser(rng)
        supers = [c for c in changes if c.kind == "super"]
        covered = {name for c in supers for name in SUPER_POSECODES[c.name[6:]]}
        if not config.turns:
            changes = [c for c in changes if c.kind != "turn"]
        if config.arrivals_only:
            changes = [c for c in changes if c.after != ("no" if c.kind == "super" else IGNORED) or c.kind == "ground"]
        if config.body_first:
            changes = sorted(changes, key=lambda c: c.kind not in ("super", "turn", "inclination", "side_lean"))
        kept = [_mover_first(c) for c in changes
                if c.kind in ("super", "turn") or (c.motion >= config.min_motion and c.name not in covered)]
        seen, unique = set(), []
        for c in kept:  # a relation and its reverse twin say the same thing
            if c.name not in seen:
                seen.add(c.name)
                unique.append(c)
        kept = unique
        facts = [_fact_of(c) for c in kept]
        by_source = {c.name: c for c in kept}
        merged = merge_limbs(merge_twins(facts), None, 1.0)
        pairs = _dedupe_heights([(f, by_source[f.sources[0]]) for f in merged])
        phrases = []
        for fact, change in pairs:
            text = _phrase(fact, change, choose)
            if text and text not in phrases:
                phrases.append(text)
            if len(phrases) == config.max_changes:
                break
        texts.append(_join(phrases, choose) if phrases else UNCHANGED)
    return texts


UNCHANGED = "Keep the same pose."
""":func:`instruct`'s instruction for a pair without a describable change."""

STANDING_TEXTS = ("Stand up straight with your arms by your sides.", "Stand straight, arms relaxed at your sides.",
                  "Just stand normally with your arms down.")
"""What :func:`pose_instructions` says of a pose that differs from its start in nothing describable."""


def pose_instructions(start_joints: torch.Tensor, joints: torch.Tensor, start_rotmats: torch.Tensor | None = None,
                      rotmats: torch.Tensor | None = None, seed: int | None = 0,
                      config: InstructionConfig = InstructionConfig()) -> list[str]:
    """Instructions ``(B,)`` that take a person from one start pose (joints ``(24, 3)``, e.g.
    standing with the arms by the sides) into each pose ``(B, 24, 3)``: PoseFix's pair
    instructions with a fixed start, i.e. the short imperatives a person types to ask for a pose
    ("Kneel down on both knees and raise your left arm above your head."), where the captioner
    writes descriptions. Only changes into a state are said (:attr:`InstructionConfig.arrivals_only`),
    the posture first (:attr:`InstructionConfig.body_first`), and no heading change (a pose has no
    "before" heading); a pose that differs from the start in nothing describable gets a standing phrase
    (:data:`STANDING_TEXTS`). ``rotmats``: local rotations ``(B, 24, 3, 3)`` (head codes), with
    ``start_rotmats`` ``(24, 3, 3)``; instruction ``i`` depends only on ``(pose i, seed, i)``."""
    if start_joints.shape != joints.shape[1:]:
        raise ValueError(f"start_joints must be one pose {tuple(joints.shape[1:])}, got {tuple(start_joints.shape)}")
    if (start_rotmats is None) != (rotmats is None):
        raise ValueError("pass rotations for both the start and the poses, or for neither")
    count = joints.shape[0]
    start = start_joints.expand(count, -1, -1)
    start_rot = start_rotmats.expand(count, -1, -1, -1) if start_rotmats is not None else None
    from_start = dataclasses.replace(config, turns=False, arrivals_only=True, body_first=True)
    texts = instruct(start, joints, start_rot, rotmats, seed, from_start)
    out = []
    for b, text in enumerate(texts):
        if text == UNCHANGED:
            choose = Chooser(None if seed is None else np.random.default_rng([int(seed), b, 2]))
            text = choose.pick(STANDING_TEXTS)
        out.append(text)
    return out


_INVERSE = {"above": "below", "below": "above", "in front of": "behind", "behind": "in front of",
            "at the left of": "at the right of", "at the right of": "at the left of"}


def _fact_of(change: PairCode) -> Fact:
    spec = POSECODES[_idx(change.name)] if change.name in _NAME_INDEX else None
    if spec is None or change.kind in ("super", "turn", "inclination", "side_lean", "twist") or change.kind.startswith("head_"):
        return Fact(change.kind, change.after, ["person"], None, [change.name])
    if change.kind in ("angle", "ground"):
        return Fact(change.kind, change.after, [spec.joints[0]], None, [change.name])
    if change.kind == "orientation":
        return Fact(change.kind, change.after, ["-".join(spec.joints)], None, [change.name])
    a, b = spec.joints
    if change.kind == "distance" and a.split("_", 1)[-1] == b.split("_", 1)[-1]:
        return Fact(change.kind, change.after, [f"both:{a.split('_', 1)[1]}"], None, [change.name])
    return Fact(change.kind, change.after, [a], b, [change.name])


def _mover_first(change: PairCode) -> PairCode:
    """Say "raise your right foot above your left foot", not "lower your left foot below your
    right foot", when it is the right foot that moved: the part that moved is the subject."""
    if change.kind not in ("position_x", "position_y", "position_z") or change.object_motion <= change.subject_motion:
        return change
    spec = POSECODES[_idx(change.name)]
    twin = f"{change.kind}:{spec.joints[1]}-{spec.joints[0]}"
    if twin not in _NAME_INDEX:  # no reversed posecode (e.g. hand vs head): keep the stated one
        return change
    return dataclasses.replace(change, name=twin, joints=(spec.joints[1], spec.joints[0]),
                               before=_INVERSE.get(change.before, change.before),
                               after=_INVERSE.get(change.after, change.after), delta=-change.delta,
                               subject_motion=change.object_motion, object_motion=change.subject_motion)


def _join(phrases: list[str], choose: Chooser) -> str:
    if len(phrases) == 1:
        text = phrases[0]
    else:
        text = ", ".join(phrases[:-1]) + choose.pick((" and ", ", then ", " and ")) + phrases[-1]
    return text[0].upper() + text[1:] + "."
