"""A request in clauses, and the body parts each clause talks about.

"Squat down with both arms stretched out in front" is two requests in one: a posture and what
the arms do. :func:`split_clauses` cuts a request at its joints ("and", "while", "with", "but",
commas); :func:`clause_parts` says which body parts (:data:`posekit.body.parts.BODY_PARTS`) a
clause names, from its words: arm and hand words with "left" / "right", posture words (sit,
kneel, squat, lie, ...) for the legs and torso, lean and bow for the torso, head words.

    split_clauses("squat down with both arms out in front")   # ["squat down", "both arms out in front"]
    clause_parts("raise your left hand")                       # ("left_arm",)
    clause_parts("sit on the floor")                           # ("legs", "torso")
"""
from __future__ import annotations

import re

from posekit.body.parts import BODY_PARTS

__all__ = ["split_clauses", "clause_parts", "CLAUSE_JOINERS"]

CLAUSE_JOINERS = ("and", "while", "with", "but", "then", "whilst", "as")
"""Words at which a request is cut into clauses (besides commas and semicolons)."""

_SPLIT = re.compile(r"\s*[,;]\s*|\s+(?:" + "|".join(CLAUSE_JOINERS) + r")\s+", re.IGNORECASE)

ARM_WORDS = frozenset("""arm arms hand hands elbow elbows wrist wrists palm palms finger fingers fist fists wave waving
    waves point pointing points clap clapping claps salute saluting thumb thumbs grab hold holding""".split())
LEG_WORDS = frozenset("""leg legs knee knees foot feet ankle ankles thigh thighs toes heel heels step stride hop
    balance balancing stand standing stands""".split())
POSTURE_WORDS = frozenset("""sit sitting sits seated seat chair kneel kneeling kneels squat squatting squats crouch
    crouching lie lying lies lay laying lunge lunging floor ground stomach""".split())
TORSO_WORDS = frozenset("""lean leaning leans bow bowing bend bending bent back torso waist hips hip chest body
    upper arch hinge fold folding slouch slouching straighten""".split())
HEAD_WORDS = frozenset("""head chin neck look looking nod face""".split())


def split_clauses(text: str) -> list[str]:
    """The request's clauses, in order (empty pieces dropped; at least the whole text)."""
    pieces = [p.strip(" .!?") for p in _SPLIT.split(text)]
    pieces = [p for p in pieces if p]
    return pieces or [text.strip()]


def clause_parts(clause: str) -> tuple[str, ...]:
    """The body parts (in :data:`BODY_PARTS` order) that ``clause``'s words name; an empty tuple
    when it names none (a whole-body request such as "do a cartwheel")."""
    words = set(re.findall(r"[a-z]+", clause.lower()))
    parts: set[str] = set()
    if words & ARM_WORDS:
        left, right = "left" in words, "right" in words
        if left and not right:
            parts.add("left_arm")
        elif right and not left:
            parts.add("right_arm")
        else:
            parts.update(("left_arm", "right_arm"))
    if words & POSTURE_WORDS:
        parts.update(("legs", "torso"))
    if words & LEG_WORDS:
        parts.add("legs")
    if words & TORSO_WORDS:
        parts.add("torso")
    if words & HEAD_WORDS:
        parts.add("head")
    return tuple(p for p in BODY_PARTS if p in parts)
