"""The plain-request test bank (``data/benchmarks/plain_requests.json``): requests typed the way
people type them, written apart from every training phrasing, each with a geometric check on
the answer's joints (:mod:`posekit.evaluation.requests`). It measures what a user meets: the
share of explicit requests, situations and edits whose answer has the asked geometry, per
model, with paired-bootstrap intervals between models.

    bank = load_request_bank()
    table = score_answers(bank, joints, starts)          # one row per request: passed or not
    summary = bank_summary({"chatpose": t1, "label-nearest": t2}, reference="label-nearest")
"""
from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pandas as pd
import torch

from posekit.corpus.library import canonical_joints
from posekit.evaluation.metrics import paired_bootstrap
from posekit.evaluation.requests import check_names, passes
from posekit.paths import data_dir, resolve_file

__all__ = ["BankRequest", "load_request_bank", "BANK_KINDS", "score_answers", "start_joints", "chat_answers",
           "bank_summary"]

BANK_KINDS = ("explicit", "situations", "edits")
"""The bank's three parts: requests that name a pose, situations that call for one, edits of a given pose."""


@dataclasses.dataclass(frozen=True)
class BankRequest:
    kind: str
    """One of :data:`BANK_KINDS`."""
    text: str
    check: str
    """An expression over :data:`posekit.evaluation.requests.CHECKS` (and, for edits, ``EDIT_CHECKS``)."""
    start: str | None = None
    """Edits: the canonical pose the edit starts from."""


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


def score_answers(bank: list[BankRequest], joints: torch.Tensor, starts: dict[str, torch.Tensor] | None = None,
                  found: list[bool] | None = None) -> pd.DataFrame:
    """One row per request: kind, request, check, passed. ``joints (N, 24, 3)``: the answers'
    joints in the bank's order; ``starts``: ``{canonical pose: (24, 3) joints}`` of the edits'
    starting poses; ``found``: False where a model gave no pose (the row fails)."""
    if len(joints) != len(bank):
        raise ValueError(f"{len(joints)} answers for {len(bank)} requests")
    rows = []
    for k, (request, j) in enumerate(zip(bank, joints)):
        start = None
        if request.kind == "edits":
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


def chat_answers(session, bank: list[BankRequest], progress: bool = False) -> tuple[pd.DataFrame, list[float]]:
    """Each request sent on its own through a chat ``session`` (a :class:`posekit.chat.ChatSession`;
    an edit with its starting pose attached), scored by :func:`score_answers` (an answer without a
    pose is a miss), and the seconds each answer took."""
    import time

    from tqdm.auto import tqdm

    names, poses, joints = canonical_joints(session.body, sorted({r.start for r in bank if r.start}))
    canonical, starts = dict(zip(names, poses)), dict(zip(names, joints))
    answers, found, seconds = [], [], []
    for request in tqdm(bank, desc="plain requests", disable=not progress):
        session.reset()
        start = time.perf_counter()
        reply = session.send(request.text, pose=canonical[request.start] if request.start else None)
        seconds.append(time.perf_counter() - start)
        found.append(bool(reply.poses))
        answers.append(reply.poses[0].joints if reply.poses else torch.full((24, 3), float("nan")))
    return score_answers(bank, torch.stack(answers), starts, found), seconds


def bank_summary(tables: dict[str, pd.DataFrame], reference: str | None = None, seed: int = 0) -> pd.DataFrame:
    """Pass rates (%) per model and kind (``tables``: :func:`score_answers` per model, same
    requests); with ``reference``, each model's difference to it in points with a paired-bootstrap
    95 % interval."""
    rows = []
    for name, table in tables.items():
        for kind in [k for k in BANK_KINDS if k in set(table.kind)]:
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
