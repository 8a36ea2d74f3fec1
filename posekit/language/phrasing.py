"""Shared phrasing of the language side: body-part names, facts, wording choices, the
aggregation rules that captions (:mod:`posekit.language.captioner`) and pair instructions
(:mod:`posekit.language.paircodes`) both apply, and the predicate table.

Entity ids are SMPL joint names (``left_hand`` -> "left hand", ``left_wrist`` -> "left wrist"),
segments (``left_hip-left_knee`` -> "left thigh"), limbs (``left_arm``), virtual parts
(``torso``, ``hips``), ``person``, or ``both:<base>`` for merged left/right twins.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import numpy as np

__all__ = ["PERSON", "Fact", "Chooser", "PREDICATES", "entity_phrase", "split_entity", "side_base", "mirror_entity",
           "merge_twins", "merge_limbs", "dedupe_facts"]

PERSON = "person"
"""Subject of whole-body facts (kneeling, leaning forward, ...)."""

_ENTITY = {
    "hand": "hand", "foot": "foot", "wrist": "wrist", "ankle": "ankle",
    "elbow": "elbow", "shoulder": "shoulder", "hip": "hip", "knee": "knee",
    "arm": "arm", "leg": "leg",
    "shoulder-elbow": "upper arm", "elbow-wrist": "forearm", "hip-knee": "thigh", "knee-ankle": "shin",
}
_PLURAL = {"hand": "hands", "elbow": "elbows", "shoulder": "shoulders", "hip": "hips", "knee": "knees", "foot": "feet",
           "arm": "arms", "leg": "legs", "upper arm": "upper arms", "forearm": "forearms", "thigh": "thighs",
           "shin": "shins", "wrist": "wrists", "ankle": "ankles"}
_SINGLE = {"head": "head", "neck": "neck", "pelvis": "pelvis", "torso": "torso", "hips": "hips",
           "pelvis-neck": "torso", PERSON: "person"}
_PLURAL_SINGLES = {"hips"}


@lru_cache(maxsize=None)
def split_entity(entity: str) -> tuple[str, str]:
    """``"left_shoulder-left_elbow"`` -> ``("left", "shoulder-elbow")``; no side -> ``("", entity)``."""
    parts = entity.split("-")
    sides = {p.split("_", 1)[0] for p in parts if p.startswith(("left_", "right_"))}
    if len(sides) == 1 and all(p.startswith(("left_", "right_")) for p in parts):
        return sides.pop(), "-".join(p.split("_", 1)[1] for p in parts)
    return "", entity


@lru_cache(maxsize=None)
def entity_phrase(entity: str) -> tuple[str, bool]:
    """Noun phrase (no determiner) for an entity id, and whether it is grammatically plural.

    Entity ids are SMPL joint names (``left_wrist`` -> "left hand"), segments
    (``left_hip-left_knee`` -> "left thigh"), ``left_arm`` / ``left_leg``, virtual parts
    (``torso``, ``hips``), ``person``, or ``both:<base>`` for merged left/right twins.
    """
    if entity.startswith("both:"):
        base = entity[5:]
        noun = _PLURAL[_ENTITY.get(base, base)]
        return noun, True
    if entity in _SINGLE:
        return _SINGLE[entity], entity in _PLURAL_SINGLES
    side, base = split_entity(entity)
    if base in _ENTITY:
        return f"{side} {_ENTITY[base]}".strip(), False
    return entity.replace("_", " "), False


@dataclasses.dataclass
class Fact:
    """A statement to put into words: ``subjects`` are (each) ``category`` of ``obj``."""

    kind: str
    category: str
    subjects: list[str]
    obj: str | None
    sources: list[str]
    essential: bool = False
    trivial: bool = False

    def key(self) -> tuple:
        return (self.kind, self.category, tuple(self.subjects), self.obj)


@lru_cache(maxsize=None)
def mirror_entity(entity: str | None) -> str | None:
    """The same entity on the other side: ``left_hand`` <-> ``right_hand``."""
    if entity is None:
        return None
    return "-".join(p.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_") for p in entity.split("-"))


def dedupe_facts(facts: list[Fact]) -> list[Fact]:
    """Facts in order with repeats removed: a fact whose key (kind, category, subjects, object)
    was stated already is merged into the first (sources joined), and a subject listed twice in
    one fact is listed once. Run after every aggregation step: two merges can yield the same
    fact ("left foot above right knee" + its mirror -> "feet above knees", the same key as the
    same-side twin)."""
    out: list[Fact] = []
    index: dict[tuple, int] = {}
    for f in facts:
        subjects = list(dict.fromkeys(f.subjects))
        if subjects != f.subjects:
            f = dataclasses.replace(f, subjects=subjects)
        key = f.key()
        if key in index:
            first = out[index[key]]
            out[index[key]] = dataclasses.replace(first, sources=first.sources + f.sources,
                                                  essential=first.essential or f.essential,
                                                  trivial=first.trivial and f.trivial)
            continue
        index[key] = len(out)
        out.append(f)
    return out


def merge_twins(facts: list[Fact]) -> list[Fact]:
    """Left/right twins with the same relation become one plural fact (duplicates removed)."""
    out: list[Fact] = []
    used = set()
    for i, f in enumerate(facts):
        if i in used:
            continue
        side, base = split_entity(f.subjects[0]) if len(f.subjects) == 1 else ("", "")
        if side:
            for j in range(i + 1, len(facts)):
                g = facts[j]
                if j in used or g.kind != f.kind or g.category != f.category or len(g.subjects) != 1:
                    continue
                if g.subjects[0] != mirror_entity(f.subjects[0]):
                    continue
                if g.obj == f.obj and (f.obj is None or not split_entity(f.obj)[0]):
                    obj = f.obj
                elif f.obj is not None and g.obj == mirror_entity(f.obj):
                    obj = f"both:{split_entity(f.obj)[1]}"
                else:
                    continue
                used.add(j)
                f = Fact(f.kind, f.category, [f"both:{base}"], obj, f.sources + g.sources, f.essential or g.essential)
                break
        out.append(f)
    return dedupe_facts(out)


_LIMBS = {frozenset({"hand", "elbow"}): "arm", frozenset({"foot", "knee"}): "leg",
          frozenset({"shoulder-elbow", "elbow-wrist"}): "arm", frozenset({"hip-knee", "knee-ankle"}): "leg"}
_LIMB_KINDS = {"position_x", "position_y", "position_z", "orientation"}


def side_base(entity: str) -> tuple[str, str]:
    """``("both", base)`` for merged twins, else :func:`split_entity`."""
    return ("both", entity[5:]) if entity.startswith("both:") else split_entity(entity)


def merge_limbs(facts: list[Fact], rng: np.random.Generator | None, p: float) -> list[Fact]:
    """Hand + elbow (foot + knee, upper arm + forearm, thigh + shin) of one side, or of both,
    with the same relation -> the arm (leg)."""
    out, used = [], set()
    for i, f in enumerate(facts):
        if i in used:
            continue
        if len(f.subjects) == 1 and f.kind in _LIMB_KINDS:
            side, base = side_base(f.subjects[0])
            for j in range(i + 1, len(facts)):
                g = facts[j]
                if j in used or len(g.subjects) != 1 or (g.kind, g.category, g.obj) != (f.kind, f.category, f.obj):
                    continue
                g_side, g_base = side_base(g.subjects[0])
                limb = _LIMBS.get(frozenset({base, g_base}))
                if side and g_side == side and limb and (rng is None or rng.random() < p):
                    subject = f"both:{limb}" if side == "both" else f"{side}_{limb}"
                    f = Fact(f.kind, f.category, [subject], f.obj, f.sources + g.sources, f.essential or g.essential)
                    used.add(j)
                    break
        out.append(f)
    return dedupe_facts(out)


class Chooser:
    """Picks wordings: the first option in deterministic mode, a random one otherwise."""

    def __init__(self, rng: np.random.Generator | None):
        self.rng = rng
        self._buffer: list[float] = []

    def _uniform(self) -> float:
        if not self._buffer:
            self._buffer = self.rng.random(64).tolist()
        return self._buffer.pop()

    def pick(self, options: Sequence):
        return options[0] if self.rng is None else options[int(self._uniform() * len(options))]

    def chance(self, p: float) -> bool:
        return self.rng is not None and self._uniform() < p


PREDICATES: dict[str, dict[str, tuple[str, ...]]] = {
    "angle": {
        "completely bent": ("completely bent", "fully bent", "bent all the way"),
        "bent more": ("sharply bent", "bent more than at a right angle", "strongly bent"),
        "right angle": ("bent at a right angle", "bent at about ninety degrees", "forming a right angle"),
        "bent less": ("partially bent", "bent less than at a right angle", "somewhat bent"),
        "slightly bent": ("slightly bent", "a little bent", "almost straight"),
        "straight": ("straight", "extended", "stretched out"),
    },
    "distance": {
        "close": ("close to {obj}", "near {obj}", "next to {obj}"),
        "shoulder width": ("shoulder-width apart", "about shoulder-width apart"),
        "spread": ("spread apart", "apart from each other", "a fair distance apart"),
        "wide": ("wide apart", "far apart", "spread wide"),
    },
    "position_x": {"at the left of": ("to the left of {obj}", "on the left side of {obj}", "further left than {obj}"),
                   "at the right of": ("to the right of {obj}", "on the right side of {obj}", "further right than {obj}")},
    "position_y": {"above": ("above {obj}", "higher than {obj}", "raised above {obj}"),
                   "below": ("below {obj}", "lower than {obj}", "beneath {obj}")},
    "position_z": {"in front of": ("in front of {obj}", "ahead of {obj}", "forward of {obj}"),
                   "behind": ("behind {obj}", "at the back of {obj}", "further back than {obj}")},
    "orientation": {"horizontal": ("horizontal", "parallel to the ground", "level with the floor"),
                    "vertical": ("vertical", "perpendicular to the ground", "straight up and down")},
    "ground": {"on the ground": ("on the ground", "touching the ground", "resting on the floor")},
    "inclination": {
        "leaning forward": ("leaning forward", "bending forward a little", "tilting the upper body forward"),
        "leaning forward a lot": ("leaning far forward", "bending forward strongly", "bent over forward"),
        "leaning backward": ("leaning backward", "leaning back slightly", "tilting the upper body back"),
        "leaning backward a lot": ("leaning far backward", "bending backward strongly", "arching far back"),
    },
    "side_lean": {
        "leaning left": ("leaning to the left", "tilting the upper body to the left"),
        "leaning left a lot": ("leaning far to the left", "bending strongly to the left"),
        "leaning right": ("leaning to the right", "tilting the upper body to the right"),
        "leaning right a lot": ("leaning far to the right", "bending strongly to the right"),
    },
    "twist": {
        "twisted left": ("twisted to the left", "turned to the left"),
        "twisted left a lot": ("strongly twisted to the left", "twisted far to the left"),
        "twisted right": ("twisted to the right", "turned to the right"),
        "twisted right a lot": ("strongly twisted to the right", "twisted far to the right"),
    },
    "head_incline": {
        "bent forward": ("bent forward", "tilted down", "lowered"),
        "bent forward a lot": ("bent far forward", "hanging down", "strongly bowed"),
        "tilted back": ("tilted back", "tilted up", "raised"),
        "tilted back a lot": ("tilted far back", "thrown back", "strongly raised"),
    },
    "head_turn": {
        "turned left": ("turned to the left", "turned left"), "turned left a lot": ("turned far to the left",),
        "turned right": ("turned to the right", "turned right"), "turned right a lot": ("turned far to the right",),
    },
    "head_tilt": {
        "tilted left": ("tilted to the left", "leaning to the left"), "tilted left a lot": ("tilted strongly to the left",),
        "tilted right": ("tilted to the right", "leaning to the right"), "tilted right a lot": ("tilted strongly to the right",),
    },
    "super": {
        "kneeling": ("kneeling", "kneeling on both knees", "on their knees"),
        "kneeling on the left knee": ("kneeling on the left knee", "down on the left knee"),
        "kneeling on the right knee": ("kneeling on the right knee", "down on the right knee"),
        "squatting": ("squatting", "crouching down", "in a deep squat"),
        "lying on the back": ("lying on their back", "lying face up", "lying on the back"),
        "lying face down": ("lying face down", "lying on their stomach", "lying prone"),
        "torso horizontal": ("horizontal", "parallel to the ground"),
        "hands shoulder-width apart": ("shoulder-width apart", "about shoulder-width apart"),
        "feet shoulder-width apart": ("shoulder-width apart", "about shoulder-width apart"),
        "arms crossed": ("crossed in front of the body", "crossed"),
        "hands on the hips": ("on the hips", "resting on the hips"),
    },
}
