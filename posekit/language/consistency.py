"""Is a description consistent with itself? Sentences it repeats, and pairs of its facts that
cannot both hold ("the left foot is ahead of the right foot" and "the right foot is ahead of the
left foot"): checks for any text that describes a pose, the model's or the captioner's."""
from __future__ import annotations

import re

__all__ = ["RELATIONS", "sentences", "repeated_sentences", "relation_facts", "contradictions"]

RELATIONS = {"ahead of": "behind", "behind": "ahead of", "above": "below", "below": "above",
             "in front of": "behind", "to the left of": "to the right of", "to the right of": "to the left of"}
"""Spatial relations between two body parts and the relation that says the opposite."""

_PART = r"(?:the |their |his |her )?((?:left|right) \w+|head|torso|hips|pelvis)"
_FACT = re.compile(_PART + r" (?:is|are) (" + "|".join(sorted(RELATIONS, key=len, reverse=True)) + r") " + _PART)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after ``.``, ``!`` or ``?``), stripped, empty ones dropped."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def _normal(sentence: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"\b(their|his|her)\b", "the", sentence.lower())).strip(" .!?")


def repeated_sentences(text: str) -> list[str]:
    """Sentences that ``text`` says more than once (compared in lower case, possessives as "the"),
    each listed once, in order."""
    seen, out = set(), []
    for sentence in sentences(text):
        key = _normal(sentence)
        if key in seen and key not in (_normal(s) for s in out):
            out.append(sentence)
        seen.add(key)
    return out


def relation_facts(text: str) -> list[tuple[str, str, str]]:
    """``(part, relation, part)`` for each spatial fact in ``text`` ("the left hand is above the head")."""
    lowered = re.sub(r"\b(their|his|her)\b", "the", text.lower())
    return [(a, rel, b) for a, rel, b in _FACT.findall(lowered)]


def contradictions(text: str) -> list[tuple[tuple[str, str, str], tuple[str, str, str]]]:
    """Pairs of facts of ``text`` that cannot both hold: A rel B with B rel A, or A rel B with A
    (opposite of rel) B. Each pair once, in the order the first fact appears."""
    facts = list(dict.fromkeys(relation_facts(text)))
    out = []
    for i, (a, rel, b) in enumerate(facts):
        for c, rel2, d in facts[i + 1:]:
            swapped = (c, d) == (b, a) and rel2 == rel
            opposite = (c, d) == (a, b) and rel2 == RELATIONS[rel]
            if swapped or opposite:
                out.append(((a, rel, b), (c, rel2, d)))
    return out
