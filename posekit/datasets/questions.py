"""Yes/no questions about a pose, answered from its deterministic posecodes (the chat task's turns)."""
from __future__ import annotations

import numpy as np

from posekit.language import PREDICATES

__all__ = ["chat_turns", "YES_NO_QUESTIONS", "yes_no_reply"]


def _bend(category: str) -> str:
    return PREDICATES["angle"][category][0]  # "bent at a right angle", "partially bent", ...


YES_NO_QUESTIONS = (
    ("angle:{s}_knee", "Is the person's {s} knee bent?", lambda c: c != "straight",
     lambda c: f"the {{s}} knee is {_bend(c)}"),
    ("angle:{s}_elbow", "Is the {s} elbow bent?", lambda c: c != "straight",
     lambda c: f"the {{s}} elbow is {_bend(c)}"),
    ("position_y:{s}_hand-head", "Is the {s} hand above the head?", lambda c: c == "above",
     lambda c: "the {s} hand is above the head" if c == "above" else "the {s} hand is not above the head"),
    ("ground:{s}_knee", "Is the {s} knee touching the ground?", lambda c: c == "on the ground",
     lambda c: "the {s} knee is on the ground" if c == "on the ground" else "the {s} knee is off the ground"),
    ("ground:{s}_foot", "Is the {s} foot on the ground?", lambda c: c == "on the ground",
     lambda c: "the {s} foot is on the ground" if c == "on the ground" else "the {s} foot is lifted off the ground"),
    ("super:kneeling", "Is the person kneeling?", lambda c: c == "yes",
     lambda c: "the person is kneeling" if c == "yes" else "the person is not kneeling"),
    ("super:squatting", "Is the person squatting?", lambda c: c == "yes",
     lambda c: "the person is squatting" if c == "yes" else "the person is not squatting"),
    ("super:lying on the back", "Is the person lying on their back?", lambda c: c == "yes",
     lambda c: "they are lying on their back" if c == "yes" else "they are not lying on their back"),
    ("inclination", "Is the person leaning forward?", lambda c: c.startswith("leaning forward"),
     lambda c: "the upper body is leaning forward" if c.startswith("leaning forward") else "the upper body is not leaning forward"),
    ("distance:left_hand-right_hand", "Are the hands close together?", lambda c: c == "close",
     lambda c: "the hands are close together" if c == "close" else "the hands are apart"),
    ("orientation:{s}_hip-{s}_knee", "Is the {s} thigh horizontal?", lambda c: c == "horizontal",
     lambda c: "the {s} thigh is horizontal" if c == "horizontal" else "the {s} thigh is not horizontal"),
)
"""``(posecode, question, is-yes(category), explanation(category))``; ``{s}``: left or right."""


def yes_no_reply(category: str, truth, explain, side: str = "") -> str:
    """The answer to a question of :data:`YES_NO_QUESTIONS` for a pose whose posecode has ``category``."""
    return f"{'Yes' if truth(category) else 'No'}, {explain(category).format(s=side)}."


def chat_turns(result, b: int, rng: np.random.Generator, count: int = 2) -> list[dict[str, str]]:
    """Yes/no questions about pose ``b`` answered from its deterministic posecodes, ``count``
    Q&A pairs, balanced so that about half of the answers are "yes"."""
    candidates = []
    for code, question, truth, explain in YES_NO_QUESTIONS:
        for side in (("left", "right") if "{s}" in code else ("",)):
            category = result.category(b, code.format(s=side))
            answer = yes_no_reply(category, truth, explain, side)
            candidates.append((question.format(s=side), answer, truth(category)))
    if count > len(candidates):
        raise ValueError(f"count={count} but only {len(candidates)} distinct questions exist")
    turns, used = [], set()
    for _ in range(count):
        want_yes = bool(rng.random() < 0.5)
        pool = [c for c in candidates if c[2] == want_yes and c[0] not in used] or \
               [c for c in candidates if c[0] not in used]
        question, answer, _ = pool[int(rng.integers(len(pool)))]
        used.add(question)
        turns += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
    return turns
