"""The held-out request banks, typed the way people type them and written apart from every
training phrasing, each request with a geometric check on the answer's joints
(:mod:`posekit.evaluation.requests`). They measure what a user meets: the share of answers with
the asked geometry, per model and kind, with paired-bootstrap intervals between models.

- the plain-request bank (``data/benchmarks/plain_requests.json``): explicit requests,
  situations and edits of a canonical pose;
- the composition bank (``data/benchmarks/composition_requests.json``): two parts in one request
  (a posture and the arms, one side and the other), fine control (angles, heights, amounts),
  negation, and chained edits (three-turn conversations from a composed starting pose, each
  turn checked against the pose before it).

    bank = load_request_bank()                           # or load_composition_bank()
    table = answer_bank(bank, answer, body)              # any model as answer(text, start) -> (24, 3)
    summary = bank_summary({"chatpose": t1, "label-nearest": t2}, reference="label-nearest")
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import torch

from posekit.body.parts import compose_pose
from posekit.corpus.library import canonical_joints, canonical_poses
from posekit.evaluation.metrics import paired_bootstrap
from posekit.evaluation.requests import check_names, passes
from posekit.paths import data_dir, resolve_file

__all__ = ["BankRequest", "load_request_bank", "load_composition_bank", "BANK_KINDS", "COMPOSITION_KINDS",
           "score_answers", "start_joints", "start_pose", "answer_bank", "chat_answers", "chat_answer", "bank_summary"]

BANK_KINDS = ("explicit", "situations", "edits")
"""The plain bank's three parts: requests that name a pose, situations that call for one, edits of a given pose."""
COMPOSITION_KINDS = ("two_parts", "fine_control", "negation", "chained")
"""The composition bank's four parts (see the module's docstring)."""


@dataclasses.dataclass(frozen=True)
class BankRequest:
    kind: str
    """One of :data:`BANK_KINDS`."""
    text: str
    check: str
    """An expression over :data:`posekit.evaluation.requests.CHECKS` (and, for edits, ``EDIT_CHECKS``)."""
    start: str | None = None
    """Edits: the canonical pose the edit starts from (chained: the first turn's base pose)."""
    start_parts: tuple[tuple[str, str], ...] = ()
    """Chained, first turn: ``(body part, canonical pose)`` pairs put on ``start``'s pose."""
    conversation: int | None = None
    """Chained: the conversation's number; its turns follow each other in the bank."""
    turn: int = 0
    """Chained: the turn's place in its conversation (0 first); later turns start from the answer before."""


def load_request_bank(path: str | Path | None = None) -> list[BankRequest]:
    """Every request of the bank, its checks validated (a check name that does not exist raises
    ``ValueError`` naming it)."""
    file = resolve_file("plain_requests.json", path=path, defaults=(data_dir() / "benchmarks",),
                        what="plain-request test bank")
    raw = json.loads(Path(file).read_text())
    out = []
    for kind in BANK_KINDS:
        for entry in raw.get(kind, []):
            request = (BankRequest(kind, entry[2], entry[1], entry[0]) if kind == "edits"
                       else BankRequest(kind, entry[1], entry[0]))
            check_names(request.check)
            out.append(request)
    return out


def load_composition_bank(path: str | Path | None = None) -> list[BankRequest]:
    """Every request of the composition bank (a chained conversation's turns one after another),
    its checks, starting poses and body parts validated (``ValueError`` naming what is wrong)."""
    file = resolve_file("composition_requests.json", path=path, defaults=(data_dir() / "benchmarks",),
                        what="composition test bank")
    raw = json.loads(Path(file).read_text())
    known = canonical_poses()
    out = []
    for kind in COMPOSITION_KINDS:
        for number, entry in enumerate(raw.get(kind, [])):
            if kind != "chained":
                out.append(BankRequest(kind, entry[1], entry[0]))
                continue
            base, parts = entry["start"]["base"], tuple(entry["start"].get("parts", {}).items())
            missing = [name for name in (base, *(p for _, p in parts)) if name not in known]
            if missing:
                raise ValueError(f"{file}: chained conversation {number} starts from unknown poses {missing}")
            compose_pose(known[base], {part: known[name] for part, name in parts})  # a wrong part name raises
            out += [BankRequest(kind, text, check, base if turn == 0 else None, parts if turn == 0 else (), number, turn)
                    for turn, (check, text) in enumerate(entry["turns"])]
    for request in out:
        check_names(request.check)
    return out


def start_pose(request: BankRequest, canonical: dict[str, torch.Tensor] | None = None) -> torch.Tensor | None:
    """The pose ``(24, 3)`` a request starts from: an edit's canonical pose, a chained conversation's
    composed first pose; None for a new pose and for a chained turn after the first (it starts
    from the answer before it)."""
    if request.start is None:
        return None
    canonical = canonical if canonical is not None else canonical_poses()
    return compose_pose(canonical[request.start], {part: canonical[name] for part, name in request.start_parts})


def answer_bank(bank: list[BankRequest], answer, body, progress: bool = False,
                desc: str = "requests") -> tuple[pd.DataFrame, list[float]]:
    """Every request answered by ``answer(text, start, new_conversation) -> (24, 3) axis-angle | None``
    (``start``: the pose an edit starts from, ``(24, 3)`` or None; a chained turn after the first
    gets the answer to the turn before, or that turn's own start when it gave no pose), scored by
    :func:`score_answers`; and the seconds each answer took."""
    import time

    from tqdm.auto import tqdm

    canonical = canonical_poses()
    poses, found, seconds, starts = [], [], [], []
    previous = None
    for request in tqdm(bank, desc=desc, disable=not progress):
        start = previous if request.turn > 0 else start_pose(request, canonical)
        begin = time.perf_counter()
        pose = answer(request.text, start, request.turn == 0)
        seconds.append(time.perf_counter() - begin)
        found.append(pose is not None)
        pose = torch.as_tensor(pose, dtype=torch.float32).reshape(24, 3) if pose is not None else None
        poses.append(pose if pose is not None else torch.zeros(24, 3))  # a miss (found False), posed at rest
        starts.append(start)
        previous = pose if pose is not None else start
    with torch.no_grad():
        stacked = torch.stack(poses)
        joints = body(stacked[:, 0], stacked[:, 1:], joints_only=True).joints  # (N, 24, 3)
        known = [s if s is not None else torch.zeros(24, 3) for s in starts]
        start_of = body(torch.stack(known)[:, 0], torch.stack(known)[:, 1:], joints_only=True).joints
    table = score_answers(bank, joints, found=found,
                          start_of=[start_of[k] if s is not None else None for k, s in enumerate(starts)])
    return table, seconds


def score_answers(bank: list[BankRequest], joints: torch.Tensor, starts: dict[str, torch.Tensor] | None = None,
                  found: list[bool] | None = None, start_of: list[torch.Tensor | None] | None = None) -> pd.DataFrame:
    """One row per request: kind, request, check, passed. ``joints (N, 24, 3)``: the answers'
    joints in the bank's order; ``starts``: ``{canonical pose: (24, 3) joints}`` of the edits'
    starting poses, or ``start_of``: each request's starting joints ``(24, 3)`` (None: a new pose);
    ``found``: False where a model gave no pose (the row fails)."""
    if len(joints) != len(bank):
        raise ValueError(f"{len(joints)} answers for {len(bank)} requests")
    rows = []
    for k, (request, j) in enumerate(zip(bank, joints)):
        start = None if start_of is None else start_of[k]
        if start_of is None and request.start is not None:
            if starts is None or request.start not in starts:
                raise ValueError(f"edit {request.text!r} starts from {request.start!r}: pass its joints in starts=")
            start = starts[request.start]
        ok = (found is None or found[k]) and bool(torch.isfinite(j).all()) and passes(request.check, j, start)
        rows.append({"kind": request.kind, "request": request.text, "check": request.check, "passed": bool(ok)})
    return pd.DataFrame(rows)


def start_joints(bank: list[BankRequest], body) -> dict[str, torch.Tensor]:
    """``{canonical pose: (24, 3) joints}`` of the edits' starting poses (``body``: a body model)."""
    names, _, joints = canonical_joints(body, sorted({r.start for r in bank if r.start}))
    return dict(zip(names, joints))


def chat_answer(session):
    """:func:`answer_bank`'s ``answer`` for a chat ``session`` (:class:`posekit.chat.ChatSession`):
    a new conversation resets it, a starting pose goes in as ``<pose_in>``; the reply's first pose."""
    def answer(text: str, start: torch.Tensor | None, new_conversation: bool):
        if new_conversation:
            session.reset()
        reply = session.send(text, pose=start)
        return reply.poses[0].pose if reply.poses else None
    return answer


def chat_answers(session, bank: list[BankRequest], progress: bool = False) -> tuple[pd.DataFrame, list[float]]:
    """Each request sent through a chat ``session`` (a :class:`posekit.chat.ChatSession`; a new
    conversation for each but a chained turn, an edit with its starting pose attached), scored by
    :func:`score_answers` (an answer without a pose is a miss), and the seconds each answer took."""
    return answer_bank(bank, chat_answer(session), session.body, progress=progress, desc="chat")


def bank_summary(tables: dict[str, pd.DataFrame], reference: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Pass rates (%) per model and kind (``tables``: :func:`score_answers` per model, same
    requests); with ``reference``, each model's difference to it in points with a paired-bootstrap
    95 % interval."""
    rows = []
    for name, table in tables.items():
        for kind in [k for k in (*BANK_KINDS, *COMPOSITION_KINDS) if k in set(table.kind)]:
            part = table[table.kind == kind]
            row = {"model": name, "kind": kind, "requests": len(part), "passed": int(part.passed.sum()),
                   "pass rate (%)": round(100 * float(part.passed.mean()), 1)}
            if reference is not None and name != reference:
                other = tables[reference]
                other = other[other.kind == kind]
                if list(other.request) != list(part.request):
                    raise ValueError(f"{name} and {reference} answered different requests")
                diff = paired_bootstrap(torch.tensor(part.passed.to_numpy(), dtype=torch.float64) * 100,
                                        torch.tensor(other.passed.to_numpy(), dtype=torch.float64) * 100, seed=seed)
                row.update({f"vs {reference} (points)": round(diff.mean, 1), "ci_low": round(diff.low, 1),
                            "ci_high": round(diff.high, 1)})
            rows.append(row)
    return pd.DataFrame(rows)
