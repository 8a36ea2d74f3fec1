"""Pose -> natural-language description, PoseScript-style (written from the published method).

Pipeline per pose, on the posecodes of :mod:`posekit.posecodes`:

1. **Super-posecodes** (kneeling, lying on the back, arms crossed, ...) replace the
   posecodes they summarise.
2. **Selection**: drop trivial categories (straight knees, arms below the head), remove
   relative positions implied by others (a above b, b above c makes "a above c"
   redundant), and, in random mode, skip non-essential posecodes with some probability.
3. **Aggregation**: left/right twins become plurals ("both knees are bent"), a hand and an
   elbow with the same relation become the arm, facts sharing a relation and an object
   share one clause ("the left hand and the right foot are above the head"), facts about
   the same body part share a subject ("the left hand is above the head and in front of
   the torso").
4. **Text**: template sentences with varied wording, determiners, openings and joiners.

Randomness only through ``seed``: caption ``i`` of a batch is a pure function of
``(pose i, seed, i)``. ``seed=None`` is the deterministic mode (no threshold offsets, no
skipping, first wording everywhere).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch

from posekit.posecodes import IGNORED, POSECODES, SUPER_POSECODES, PosecodeResult, evaluate

__all__ = ["CaptionConfig", "Fact", "Captioner", "caption", "select_facts", "aggregate_facts",
           "entity_phrase", "PERSON"]

PERSON = "person"
"""Subject of whole-body facts (kneeling, leaning forward, ...)."""

_ENTITY = {
    "wrist": "hand", "elbow": "elbow", "shoulder": "shoulder", "hip": "hip", "knee": "knee", "ankle": "foot",
    "arm": "arm", "leg": "leg",
    "shoulder-elbow": "upper arm", "elbow-wrist": "forearm", "hip-knee": "thigh", "knee-ankle": "shin",
}
_PLURAL = {"hand": "hands", "elbow": "elbows", "shoulder": "shoulders", "hip": "hips", "knee": "knees", "foot": "feet",
           "arm": "arms", "leg": "legs", "upper arm": "upper arms", "forearm": "forearms", "thigh": "thighs",
           "shin": "shins"}
_SINGLE = {"head": "head", "neck": "neck", "pelvis": "pelvis", "torso": "torso", "hips": "hips",
           "pelvis-neck": "torso", PERSON: "person"}
_PLURAL_SINGLES = {"hips"}


@lru_cache(maxsize=None)
def _split(entity: str) -> tuple[str, str]:
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
    side, base = _split(entity)
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


@dataclasses.dataclass(frozen=True)
class CaptionConfig:
    """How captions are drawn (random mode only; the deterministic mode ignores the probabilities)."""

    skip_probability: float = 0.15
    """Chance to drop each non-essential posecode."""
    aggregate_probability: float = 0.85
    """Chance to apply each optional aggregation (entity, shared object, shared subject)."""
    pair_probability: float = 0.5
    """Chance to join two clauses into one sentence."""
    max_facts: int = 12
    """Most facts kept per caption (essential ones first)."""

    def __post_init__(self) -> None:
        for name in ("skip_probability", "aggregate_probability", "pair_probability"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {value}")
        if self.max_facts < 1:
            raise ValueError(f"max_facts must be >= 1, got {self.max_facts}")


# --- facts from posecodes ------------------------------------------------------------------
_WHOLE_BODY = {"inclination", "side_lean"}
_NOT_DESCRIBED = {"facing"}
# Posecodes that lose their meaning once the body lies down (front/behind, "on the ground" for everything).
_LYING_DROPS = ("position_z", "ground", "inclination", "orientation", "position_y")


@dataclasses.dataclass(frozen=True)
class _SpecInfo:
    kind: str
    subject: str
    obj: str | None
    categories: tuple[str, ...]
    trivial: frozenset[str]
    essential: frozenset[str]
    name: str


def _spec_info(spec) -> _SpecInfo | None:
    """How a posecode becomes a fact (None: never described on its own)."""
    if spec.kind in _NOT_DESCRIBED or spec.kind == "super":
        return None
    if spec.kind in ("angle", "ground"):
        subject, obj = spec.joints[0], None
    elif spec.kind == "orientation":
        subject, obj = "-".join(spec.joints), None
    elif spec.kind in _WHOLE_BODY:
        subject, obj = PERSON, None
    elif spec.kind == "twist":
        subject, obj = "torso", None
    elif spec.kind.startswith("head_"):
        subject, obj = "head", None
    elif spec.kind == "distance" and _split(spec.joints[0])[1] == _split(spec.joints[1])[1]:
        subject, obj = f"both:{_split(spec.joints[0])[1]}", None  # the two hands, the two feet ...
    else:
        subject, obj = spec.joints
    return _SpecInfo(spec.kind, subject, obj, spec.categories, spec.trivial, spec.essential, spec.name)


_INFOS = [_spec_info(spec) for spec in POSECODES]
# Relations stated twice (a above b / b above a): only the first of each pair is described.
_REVERSED = {i for i, info in enumerate(_INFOS) if info is not None and info.obj is not None
             and any(j < i and o is not None and (o.kind, o.subject, o.obj) == (info.kind, info.obj, info.subject)
                     for j, o in enumerate(_INFOS))}
_DESCRIBED = np.array([info is not None and i not in _REVERSED for i, info in enumerate(_INFOS)])
_IGNORED_CAT = np.array([s.categories.index(IGNORED) if IGNORED in s.categories else -1 for s in POSECODES])
_SUPER_COLS = np.array([s.kind == "super" for s in POSECODES])
_SUPER_NAMES = [s.name[len("super:"):] for s in POSECODES]
_SUPER_SUBJECT = {"arms crossed": "both:arm", "hands on the hips": "both:wrist", "hands shoulder-width apart": "both:wrist",
                  "feet shoulder-width apart": "both:ankle", "torso horizontal": "torso"}


def _facts_of(cats: np.ndarray) -> list[Fact]:
    """Facts of one pose from its category row ``(N,)``."""
    supers = [_SUPER_NAMES[n] for n in np.flatnonzero(_SUPER_COLS & (cats == 1))]
    lying = "lying on the back" in supers or "lying face down" in supers
    replaced = {name for s in supers for name in SUPER_POSECODES[s]}
    facts = []
    for s in supers:
        spec = POSECODES[_SUPER_INDEX[s]]
        facts.append(Fact("super", s, [_SUPER_SUBJECT.get(s, PERSON)], None, [spec.name], "yes" in spec.essential))
    for n in np.flatnonzero(_DESCRIBED & (cats != _IGNORED_CAT)):
        info = _INFOS[n]
        if info.name in replaced or (lying and info.kind in _LYING_DROPS):
            continue
        category = info.categories[cats[n]]
        facts.append(Fact(info.kind, category, [info.subject], info.obj, [info.name],
                          category in info.essential, category in info.trivial))
    return facts


_SUPER_INDEX = {s.name[len("super:"):]: i for i, s in enumerate(POSECODES) if s.kind == "super"}


def _prune_transitive(facts: list[Fact]) -> list[Fact]:
    """Drop "a R c" when "a R b" and "b R c" are both stated (R: above / in front of / left of)."""
    order = {"position_y": ("above", "below"), "position_z": ("in front of", "behind"),
             "position_x": ("at the left of", "at the right of")}
    edges: dict[str, set[tuple[str, str]]] = {k: set() for k in order}
    for f in facts:
        if f.kind in order and f.obj is not None:
            hi, lo = (f.subjects[0], f.obj) if f.category == order[f.kind][0] else (f.obj, f.subjects[0])
            edges[f.kind].add((hi, lo))
    out = []
    for f in facts:
        if f.kind in order and f.obj is not None and not f.essential:
            hi, lo = (f.subjects[0], f.obj) if f.category == order[f.kind][0] else (f.obj, f.subjects[0])
            mids = {b for (a, b) in edges[f.kind] if a == hi} & {a for (a, b) in edges[f.kind] if b == lo}
            if mids - {hi, lo}:
                continue
        out.append(f)
    return out


def select_facts(facts: list[Fact], rng: np.random.Generator | None, config: CaptionConfig) -> list[Fact]:
    """Selection step: trivial codes out, implied relations out, random skips (random mode)."""
    informative = [f for f in facts if not f.trivial]
    if not informative:  # never return nothing: fall back on the most telling trivial facts
        informative = sorted(facts, key=lambda f: f.kind not in ("angle", "ground", "orientation"))[:2]
    informative = _prune_transitive(informative)
    if rng is not None and config.skip_probability > 0:
        keep = [f for f in informative if f.essential or rng.random() >= config.skip_probability]
        informative = keep or informative[:1]
    informative = _merge_twins(informative)  # before the cap, so that twins are kept or cut together
    informative.sort(key=lambda f: not f.essential)
    return informative[: config.max_facts]


# --- aggregation ---------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _mirror(entity: str | None) -> str | None:
    if entity is None:
        return None
    return "-".join(p.replace("left_", "\0").replace("right_", "left_").replace("\0", "right_") for p in entity.split("-"))


def _merge_twins(facts: list[Fact]) -> list[Fact]:
    """Left/right twins with the same relation become one plural fact."""
    out: list[Fact] = []
    used = set()
    for i, f in enumerate(facts):
        if i in used:
            continue
        side, base = _split(f.subjects[0]) if len(f.subjects) == 1 else ("", "")
        if side:
            for j in range(i + 1, len(facts)):
                g = facts[j]
                if j in used or g.kind != f.kind or g.category != f.category or len(g.subjects) != 1:
                    continue
                if g.subjects[0] != _mirror(f.subjects[0]):
                    continue
                if g.obj == f.obj and (f.obj is None or not _split(f.obj)[0]):
                    obj = f.obj
                elif f.obj is not None and g.obj == _mirror(f.obj):
                    obj = f"both:{_split(f.obj)[1]}"
                else:
                    continue
                used.add(j)
                f = Fact(f.kind, f.category, [f"both:{base}"], obj, f.sources + g.sources, f.essential or g.essential)
                break
        out.append(f)
    return out


_LIMBS = {frozenset({"wrist", "elbow"}): "arm", frozenset({"ankle", "knee"}): "leg",
          frozenset({"shoulder-elbow", "elbow-wrist"}): "arm", frozenset({"hip-knee", "knee-ankle"}): "leg"}
_LIMB_KINDS = {"position_x", "position_y", "position_z", "orientation"}


def _side_base(entity: str) -> tuple[str, str]:
    return ("both", entity[5:]) if entity.startswith("both:") else _split(entity)


def _merge_limbs(facts: list[Fact], rng: np.random.Generator | None, p: float) -> list[Fact]:
    """Hand + elbow (foot + knee, upper arm + forearm, thigh + shin) of one side, or of both,
    with the same relation -> the arm (leg)."""
    out, used = [], set()
    for i, f in enumerate(facts):
        if i in used:
            continue
        if len(f.subjects) == 1 and f.kind in _LIMB_KINDS:
            side, base = _side_base(f.subjects[0])
            for j in range(i + 1, len(facts)):
                g = facts[j]
                if j in used or len(g.subjects) != 1 or (g.kind, g.category, g.obj) != (f.kind, f.category, f.obj):
                    continue
                g_side, g_base = _side_base(g.subjects[0])
                limb = _LIMBS.get(frozenset({base, g_base}))
                if side and g_side == side and limb and (rng is None or rng.random() < p):
                    subject = f"both:{limb}" if side == "both" else f"{side}_{limb}"
                    f = Fact(f.kind, f.category, [subject], f.obj, f.sources + g.sources, f.essential or g.essential)
                    used.add(j)
                    break
        out.append(f)
    return out


def _merge_shared(facts: list[Fact], rng: np.random.Generator | None, p: float) -> list[Fact]:
    """Same relation and object: one clause with several subjects."""
    out: list[Fact] = []
    index: dict[tuple, int] = {}
    for f in facts:
        key = (f.kind, f.category, f.obj)
        if f.kind != "super" and f.subjects[0] != PERSON and key in index and (rng is None or rng.random() < p):
            target = out[index[key]]
            if len(target.subjects) < 3:
                out[index[key]] = Fact(f.kind, f.category, target.subjects + f.subjects, f.obj,
                                       target.sources + f.sources, target.essential or f.essential)
                continue
        index.setdefault(key, len(out))
        out.append(f)
    return out


def aggregate_facts(facts: list[Fact], rng: np.random.Generator | None, config: CaptionConfig) -> list[list[Fact]]:
    """Aggregation step; returns clauses, each a list of facts sharing one subject."""
    p = config.aggregate_probability
    facts = _merge_twins(facts)  # idempotent; facts from select_facts are merged already
    facts = _merge_limbs(facts, rng, p)
    facts = _merge_shared(facts, rng, p)
    clauses: list[list[Fact]] = []
    by_subject: dict[tuple[str, ...], int] = {}
    for f in facts:
        key = tuple(f.subjects)
        if key in by_subject and len(clauses[by_subject[key]]) < 2 and (rng is None or rng.random() < p):
            clauses[by_subject[key]].append(f)
            continue
        by_subject[key] = len(clauses)
        clauses.append([f])
    return clauses


# --- text ----------------------------------------------------------------------------------
_PREDICATES: dict[str, dict[str, tuple[str, ...]]] = {
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
_PERSON_SUBJECTS = (("the person", False), ("they", True), ("someone", False), ("this person", False))
_OPENINGS = ("", "", "In this pose, ", "Here, ")
_JOINERS = (" and ", ", while ", ", and ", "; ")


class _Chooser:
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


def _noun(entity: str, choose: _Chooser, person: tuple[str, bool]) -> tuple[str, bool]:
    if entity == PERSON:
        return person
    phrase, plural = entity_phrase(entity)
    if entity.startswith("both:") and choose.chance(0.3):
        return f"both {phrase}", True
    det = choose.pick(("the", "their"))
    return f"{det} {phrase}", plural


def _subject(entities: list[str], choose: _Chooser, person: tuple[str, bool]) -> tuple[str, bool]:
    nouns = [_noun(e, choose, person) for e in entities]
    if len(nouns) == 1:
        return nouns[0]
    text = ", ".join(n for n, _ in nouns[:-1]) + " and " + nouns[-1][0]
    return text, True


def _predicate(fact: Fact, choose: _Chooser) -> str:
    options = _PREDICATES[fact.kind][fact.category]
    if fact.kind == "distance" and fact.obj is None and fact.category == "close":
        options = ("close together", "close to each other", "near each other")
    text = choose.pick(options)
    if "{obj}" in text:
        obj = fact.obj
        noun = entity_phrase(obj)[0] if obj is not None else "each other"
        if obj is not None and obj.startswith("both:"):
            noun = "the " + noun
        elif obj is not None:
            noun = choose.pick(("the", "their")) + " " + noun
        text = text.format(obj=noun)
    return text


def _clause(facts: list[Fact], choose: _Chooser, person: tuple[str, bool]) -> str:
    subject, plural = _subject(facts[0].subjects, choose, person)
    verb = "are" if plural else "is"
    predicates = [_predicate(f, choose) for f in facts]
    return f"{subject} {verb} " + " and ".join(predicates)


def realize(clauses: list[list[Fact]], choose: _Chooser, config: CaptionConfig) -> str:
    """Text step: clauses -> sentences."""
    person = choose.pick(_PERSON_SUBJECTS)
    texts = [_clause(c, choose, person) for c in clauses]
    sentences: list[str] = []
    i = 0
    while i < len(texts):
        if i + 1 < len(texts) and choose.chance(config.pair_probability):
            sentences.append(texts[i] + choose.pick(_JOINERS) + texts[i + 1])
            i += 2
        else:
            sentences.append(texts[i])
            i += 1
    opening = choose.pick(_OPENINGS)
    sentences = [s[0].upper() + s[1:] for s in sentences]
    if opening:
        sentences[0] = opening + sentences[0][0].lower() + sentences[0][1:]
    return ". ".join(sentences) + "."


class Captioner:
    """Describes poses in words. ``Captioner()(joints, rotmats, seed)`` -> one caption per pose."""

    def __init__(self, config: CaptionConfig = CaptionConfig()):
        self.config = config

    def facts(self, result: PosecodeResult, b: int, rng: np.random.Generator | None = None) -> list[list[Fact]]:
        """Selected and aggregated facts (clauses) of pose ``b``: the structured caption."""
        cats = result.categories[b].numpy()
        return aggregate_facts(select_facts(_facts_of(cats), rng, self.config), rng, self.config)

    def __call__(self, joints: torch.Tensor, rotmats: torch.Tensor | None = None, seed: int | None = 0,
                 layout: str = "smpl") -> list[str]:
        """Captions ``(B,)`` for joints ``(B, 24, 3)`` (and optional local rotations ``(B, 24, 3, 3)``).

        ``seed=None``: deterministic mode. Otherwise caption ``i`` depends only on
        ``(pose i, seed, i)``; different seeds give different wordings and selections.
        """
        generator = None if seed is None else torch.Generator().manual_seed(int(seed))
        result = evaluate(joints, rotmats, generator=generator, layout=layout)
        return self.from_posecodes(result, seed)

    def from_posecodes(self, result: PosecodeResult, seed: int | None = 0) -> list[str]:
        """Captions from already computed posecodes."""
        return self.with_facts(result, seed)[0]

    def with_facts(self, result: PosecodeResult, seed: int | None = 0) -> tuple[list[str], list[list[tuple[str, str]]]]:
        """Captions and, per caption, the ``(posecode name, category)`` pairs it states
        (super-posecodes as ``("super:<name>", "yes")``)."""
        captions, stated = [], []
        categories = result.categories.numpy()
        for b in range(len(result)):
            rng = None if seed is None else np.random.default_rng([int(seed), b])
            facts = select_facts(_facts_of(categories[b]), rng, self.config)
            captions.append(realize(aggregate_facts(facts, rng, self.config), _Chooser(rng), self.config))
            stated.append([(src, "yes" if f.kind == "super" else result.category(b, src))
                           for f in facts for src in f.sources])
        return captions, stated


def caption(joints: torch.Tensor, rotmats: torch.Tensor | None = None, seed: int | None = 0) -> list[str]:
    """Shortcut for ``Captioner()(joints, rotmats, seed)``."""
    return Captioner()(joints, rotmats, seed)
