"""Pose -> natural-language description, PoseScript-style (written from the published method).

Pipeline per pose, on the posecodes of :mod:`posekit.language.posecodes`:

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

import numpy as np
import torch

from posekit.configs import check_field_types
from posekit.language.phrasing import (
    PERSON,
    PREDICATES,
    Chooser,
    Fact,
    dedupe_facts,
    entity_phrase,
    merge_limbs,
    merge_twins,
    split_entity,
)
from posekit.language.posecodes import IGNORED, POSECODES, SUPER_POSECODES, PosecodeResult, compute_posecodes

__all__ = ["CaptionConfig", "Captioner", "caption", "select_facts", "aggregate_facts", "prune_transitive", "realize"]


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
    shuffle_facts: bool = False
    """Random mode: shuffle the non-essential facts before :attr:`max_facts` cuts them, so that a
    short caption says a random few things (False: body-part order, the datasets' captions)."""

    def __post_init__(self) -> None:
        check_field_types(self)
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
_LYING_DROPS = ("position_z", "ground", "inclination", "side_lean", "orientation", "position_y")


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
    elif spec.kind == "distance" and split_entity(spec.joints[0])[1] == split_entity(spec.joints[1])[1]:
        subject, obj = f"both:{split_entity(spec.joints[0])[1]}", None  # the two hands, the two feet ...
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
_SUPER_SUBJECT = {"arms crossed": "both:arm", "hands on the hips": "both:hand", "hands shoulder-width apart": "both:hand",
                  "feet shoulder-width apart": "both:foot", "torso horizontal": "torso"}


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


def prune_transitive(facts: list[Fact]) -> list[Fact]:
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
    informative = prune_transitive(informative)
    if rng is not None and config.skip_probability > 0:
        keep = [f for f in informative if f.essential or rng.random() >= config.skip_probability]
        informative = keep or informative[:1]
    informative = merge_twins(informative)  # before the cap, so that twins are kept or cut together
    if rng is not None and config.shuffle_facts:
        informative = [informative[i] for i in rng.permutation(len(informative))]
    informative.sort(key=lambda f: not f.essential)
    return informative[: config.max_facts]


# --- aggregation ---------------------------------------------------------------------------

def _merge_shared(facts: list[Fact], rng: np.random.Generator | None, p: float) -> list[Fact]:
    """Same relation and object: one clause with several subjects."""
    out: list[Fact] = []
    index: dict[tuple, int] = {}
    for f in facts:
        key = (f.kind, f.category, f.obj)
        if f.kind != "super" and f.subjects[0] != PERSON and key in index and (rng is None or rng.random() < p):
            target = out[index[key]]
            subjects = list(dict.fromkeys(target.subjects + f.subjects))
            if len(subjects) <= 3:
                out[index[key]] = Fact(f.kind, f.category, subjects, f.obj,
                                       target.sources + f.sources, target.essential or f.essential)
                continue
        index.setdefault(key, len(out))
        out.append(f)
    return dedupe_facts(out)


def aggregate_facts(facts: list[Fact], rng: np.random.Generator | None, config: CaptionConfig) -> list[list[Fact]]:
    """Aggregation step; returns clauses, each a list of facts sharing one subject."""
    p = config.aggregate_probability
    facts = merge_twins(facts)  # idempotent; facts from select_facts are merged already
    facts = merge_limbs(facts, rng, p)
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
_PERSON_SUBJECTS = (("the person", False), ("they", True), ("someone", False), ("this person", False))
_OPENINGS = ("", "", "In this pose, ", "Here, ")
_JOINERS = (" and ", ", while ", ", and ", "; ")


def _noun(entity: str, choose: Chooser, person: tuple[str, bool]) -> tuple[str, bool]:
    if entity == PERSON:
        return person
    phrase, plural = entity_phrase(entity)
    if entity.startswith("both:") and choose.chance(0.3):
        return f"both {phrase}", True
    det = choose.pick(("the", "their"))
    return f"{det} {phrase}", plural


def _subject(entities: list[str], choose: Chooser, person: tuple[str, bool]) -> tuple[str, bool]:
    nouns = [_noun(e, choose, person) for e in entities]
    if len(nouns) == 1:
        return nouns[0]
    text = ", ".join(n for n, _ in nouns[:-1]) + " and " + nouns[-1][0]
    return text, True


def _predicate(fact: Fact, choose: Chooser) -> str:
    options = PREDICATES[fact.kind][fact.category]
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


def _clause(facts: list[Fact], choose: Chooser, person: tuple[str, bool]) -> str:
    subject, plural = _subject(facts[0].subjects, choose, person)
    verb = "are" if plural else "is"
    predicates = [_predicate(f, choose) for f in facts]
    return f"{subject} {verb} " + " and ".join(predicates)


def realize(clauses: list[list[Fact]], choose: Chooser, config: CaptionConfig) -> str:
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
        result = compute_posecodes(joints, rotmats, generator=generator, layout=layout)
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
            captions.append(realize(aggregate_facts(facts, rng, self.config), Chooser(rng), self.config))
            stated.append([(src, "yes" if f.kind == "super" else result.category(b, src))
                           for f in facts for src in f.sources])
        return captions, stated


def caption(joints: torch.Tensor, rotmats: torch.Tensor | None = None, seed: int | None = 0) -> list[str]:
    """Shortcut for ``Captioner()(joints, rotmats, seed)``."""
    return Captioner()(joints, rotmats, seed)
