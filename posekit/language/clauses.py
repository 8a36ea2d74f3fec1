"""A request in clauses, and the body parts each clause talks about.

"Squat down with both arms stretched out in front" is two requests in one: a posture and what
the arms do. :func:`split_clauses` cuts a request at its joints ("and", "while", "with", "but",
commas); :func:`clause_parts` says which body parts (:data:`posekit.body.parts.BODY_PARTS`) a
clause names, from its words: arm and hand words with "left" / "right", posture words (sit,
kneel, squat, lie, ...) for the legs and torso, lean and bow for the torso, head words.

    split_clauses("squat down with both arms out in front")   # ["squat down", "both arms out in front"]
    clause_parts("raise your left hand")                       # ("left_arm",)
    clause_parts("sit on the floor")            # ("posture", "left_leg", "right_leg", "torso")
"""
from __future__ import annotations

import re

from posekit.body.parts import BODY_PARTS

__all__ = ["split_clauses", "clause_parts", "clause_side", "is_negated", "CLAUSE_JOINERS"]

CLAUSE_JOINERS = ("and", "while", "with", "but", "then", "whilst")
"""Words at which a request is cut into clauses (besides sentence ends, commas and semicolons)."""

_SPLIT = re.compile(r"\s*[,;]\s*|[.!?]\s+|\s+(?:" + "|".join(CLAUSE_JOINERS) + r")\s+", re.IGNORECASE)

ARM_WORDS = frozenset("""arm arms hand hands elbow elbows wrist wrists palm palms finger fingers fist fists wave waving
    waves point pointing points clap clapping claps salute saluting thumb thumbs grab hold holding reach reaching
    hang hanging clasp clasped""".split())
LEG_WORDS = frozenset("""leg legs knee knees foot feet ankle ankles thigh thighs toes heel heels step stride hop
    balance balancing stand standing stands""".split())
POSTURE_WORDS = frozenset("""sit sitting sits seated seat chair kneel kneeling kneels squat squatting squats crouch
    crouching lie lying lies lay laying lunge lunging floor ground stomach""".split())
TORSO_WORDS = frozenset("""lean leaning leans bow bowing bend bending bent back torso waist hips hip chest body
    upper arch hinge fold folding slouch slouching straighten""".split())
HEAD_WORDS = frozenset("""head chin neck look looking nod face""".split())


DETERMINERS = frozenset("your the my his her their both a".split())
STATE_WORDS = frozenset("""up down out forward forwards back backward backwards bent straight together apart raised
    crossed wide high low overhead sideways in""".split())
"""Words that make a short piece a clause of its own ("both arms up", "arms out"), not a bare phrase."""
NEGATIONS = frozenset("not don't dont never without no nor isn't aren't avoid".split())
_LEADING_JOINER = re.compile(r"^(?:" + "|".join(CLAUSE_JOINERS) + r")\s+", re.IGNORECASE)


def is_negated(clause: str) -> bool:
    """Whether a clause says what not to do ("don't cross your legs", "without bending the knees")."""
    words = set(re.findall(r"[a-z']+", clause.lower()))
    return bool(words & NEGATIONS) or "n't" in clause.lower()


def clause_side(clause: str) -> int:
    """1 when a clause names the left side only, -1 the right only, 0 neither or both."""
    words = set(re.findall(r"[a-z]+", clause.lower()))
    return int("left" in words) - int("right" in words)


def split_clauses(text: str) -> list[str]:
    """The request's clauses, in order (empty pieces dropped; at least the whole text). A piece
    that names no body part, or is a bare phrase of at most three words without a state word ("with
    your right arm", "the floor"; "both arms up" is a clause), stays with the clause before it: it
    says more of that clause."""
    pieces = [_LEADING_JOINER.sub("", p.strip(" .!?")) for p in _SPLIT.split(text)]
    out: list[str] = []
    for piece in (p for p in pieces if p):
        words = piece.lower().split()
        bare = len(words) <= 2 and not set(words) & STATE_WORDS or (
            len(words) <= 3 and words[0] in DETERMINERS and not set(words) & STATE_WORDS)
        if out and (bare or not clause_parts(piece)):
            joiner = _joiner(text, out[-1], piece)
            out[-1] = f"{out[-1]}{joiner} {piece}" if joiner in ",;" else f"{out[-1]} {joiner} {piece}"
        else:
            out.append(piece)
    return out or [text.strip()]


def _joiner(text: str, before: str, piece: str) -> str:
    """The word or comma that stood between two pieces in ``text`` (", " when not found)."""
    found = re.search(re.escape(before.split()[-1]) + r"\s*(,|;|\s\w+)\s+" + re.escape(piece.split()[0]), text)
    return found.group(1).strip() if found else ","


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
        parts.update(("posture", "left_leg", "right_leg", "torso"))
    if words & LEG_WORDS:
        left, right = "left" in words, "right" in words
        parts.update(("left_leg",) if left and not right else ("right_leg",) if right and not left
                     else ("left_leg", "right_leg"))
    if words & TORSO_WORDS:
        parts.add("torso")
    if words & HEAD_WORDS:
        parts.add("head")
    return tuple(p for p in BODY_PARTS if p in parts)
