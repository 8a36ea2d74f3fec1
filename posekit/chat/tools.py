"""Answers the chat computes instead of generating: facts about a given pose, read from its
posecodes by the captioner (a tool the chat calls), so that a description states what the body
does and never loops or contradicts itself (the 135M LLM's own descriptions did both:
docs/model-design.md, pose2text).

- :func:`is_description_request`: "Describe this pose.", "What is this person doing?", ...;
- :func:`describe_pose`: the nearest canonical pose by name ("It looks like hands on hips.")
  and the captioner's deterministic description;
- :func:`yes_no_answer`: "Is the left hand above the head?" answered from the posecodes (the
  chat task's questions, :mod:`posekit.datasets.questions`), None for another question.
"""
from __future__ import annotations

import re
from functools import lru_cache

import torch

from posekit.corpus.library import canonical_joints
from posekit.datasets.plain import normalise_request
from posekit.datasets.questions import YES_NO_QUESTIONS, yes_no_reply
from posekit.datasets.tasks import load_spg_descriptions
from posekit.language import Captioner, compute_posecodes
from posekit.language.posecodes import normalize_joints

__all__ = ["is_description_request", "describe_pose", "yes_no_question", "yes_no_answer", "nearest_canonical"]

_DESCRIBE = re.compile(
    r"\b(describe|description|what('s| is| are)? (this|the|that|he|she|they|this person|the person|the figure)\b.*"
    r"\b(doing|pose|posture|position)|what (pose|posture|position)|tell me about (this|the|that) (pose|posture|body)|"
    r"explain (this|the) (pose|posture)|how (is|are) (he|she|they|this person|the person) (standing|sitting|posed))\b",
    re.IGNORECASE)


def is_description_request(text: str) -> bool:
    """Whether ``text`` asks what a given pose is ("Describe this pose.", "What is she doing?")."""
    return bool(_DESCRIBE.search(text))


@lru_cache(maxsize=4)
def _canonical_joints(body) -> tuple[list[str], torch.Tensor]:
    names, _, joints = canonical_joints(body)
    return names, normalize_joints(joints)


def nearest_canonical(joints: torch.Tensor, body) -> tuple[str, float, float]:
    """The canonical pose nearest to joints ``(24, 3)`` (mean joint distance after the captioner's
    normalisation, metres), that mean distance and the largest joint's."""
    names, table = _canonical_joints(body)
    gaps = (table - normalize_joints(joints[None])).norm(dim=-1)  # (P, 24)
    best = int(gaps.mean(-1).argmin())
    return names[best], float(gaps[best].mean()), float(gaps[best].max())


def describe_pose(joints: torch.Tensor, rotmats: torch.Tensor | None, body, near: float = 0.06,
                  farthest: float = 0.2) -> str:
    """A true description of the pose with joints ``(24, 3)`` (local rotations ``(24, 3, 3)`` or
    None): what it resembles when a canonical pose lies within ``near`` metres (mean joint distance)
    with no joint farther than ``farthest``, then the captioner's deterministic description."""
    caption = Captioner()(joints[None], None if rotmats is None else rotmats[None], seed=None)[0]
    name, gap, worst = nearest_canonical(joints, body)
    if gap > near or worst > farthest:
        return caption
    who = load_spg_descriptions()[name]["who"]
    return f"It looks like {name}: someone who {who}. {caption}"


def yes_no_question(question: str) -> tuple | None:
    """``(posecode, is-yes, explanation, side)`` when ``question`` is one of the chat task's yes/no
    questions (:data:`posekit.datasets.questions.YES_NO_QUESTIONS`; any case and punctuation),
    else None."""
    asked = normalise_request(question)
    for code, template, truth, explain in YES_NO_QUESTIONS:
        for side in (("left", "right") if "{s}" in code else ("",)):
            if normalise_request(template.format(s=side)) == asked:
                return code.format(s=side), truth, explain, side
    return None


def yes_no_answer(question: str, joints: torch.Tensor, rotmats: torch.Tensor | None = None) -> str | None:
    """The answer to one of the chat task's yes/no questions about the pose with joints ``(24, 3)``,
    from its posecodes; None when ``question`` is not one of them."""
    matched = yes_no_question(question)
    if matched is None:
        return None
    code, truth, explain, side = matched
    result = compute_posecodes(joints[None], None if rotmats is None else rotmats[None])
    return yes_no_reply(result.category(0, code), truth, explain, side)
