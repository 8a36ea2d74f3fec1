"""The shipped ChatPose model follows plain requests a person types, not only the captioner's
templates: a dozen hand-written requests through the chat, each answer checked on its joints.

Requests the shipped model does not follow yet are marked ``xfail(strict=True)`` with what was
measured: they fail the suite the day they start passing, so the list stays true."""
import pytest
import torch

from posekit.chat import ChatSession
from posekit.evaluation.requests import PLAIN_REQUEST_CHECKS


CHECKS = PLAIN_REQUEST_CHECKS
NOT_YET: dict[str, str] = {
    "Kneel on both knees.":
        "measured (release checkpoint with its part composer, float16): a kneel on one knee, the left knee 0.48 m "
        "above the floor and the right on it (knees at 82 degrees)",
    "Stand on your right leg and lift your left knee.":
        "measured: the sides swapped, the right knee bent to 42 degrees and the left nearly straight (160), "
        "neither knee 0.2 m above the other",
}
"""Requests the chat's default checkpoint misses, with what it does instead (filled from measurement)."""


@pytest.fixture(scope="module")
def answers(body):
    session = ChatSession(body=body)
    out = {}
    for text in CHECKS:
        session.reset()
        reply = session.send(text)
        out[text] = reply
    return out


@pytest.mark.parametrize("request_text", [
    pytest.param(t, marks=pytest.mark.xfail(strict=True, reason=NOT_YET[t])) if t in NOT_YET else t for t in CHECKS])
def test_the_shipped_model_follows_a_plain_request(answers, request_text):
    reply = answers[request_text]
    assert reply.poses, f"no pose in {reply.text!r}"
    joints = reply.poses[0].joints
    assert torch.isfinite(joints).all()
    assert CHECKS[request_text](joints), f"{request_text!r} -> {reply.poses[0].description}"


def test_different_requests_give_different_bodies(answers):
    poses = torch.stack([a.poses[0].pose for a in answers.values() if a.poses])
    spread = (poses[:, None] - poses[None]).norm(dim=-1).mean(-1)  # (R, R) mean joint-rotation distance
    assert spread[~torch.eye(len(poses), dtype=torch.bool)].min() > 0.01


BANK_SAMPLE = 30
"""A fixed sample of the plain-request test bank: every (239 // 30 = 7)th request, 35 of them
(explicit requests, situations and edits), as ``bench/plain_requests.py --limit 30`` takes it."""
BANK_SAMPLE_PASSED = 26
"""How many of them the chat's default (the release checkpoint with its part composer) follows
(float16, greedy): measured with ``python bench/plain_requests.py --checkpoint
data/checkpoints/chatpose-release --limit 30 --dtype float16``; the full bank's rates are in the
README."""


def test_the_shipped_model_follows_the_bank_sample_at_its_measured_rate(body):
    from posekit.evaluation.request_bank import chat_answers, load_request_bank

    bank = load_request_bank()
    bank = bank[::max(1, len(bank) // BANK_SAMPLE)]
    table, _ = chat_answers(ChatSession(body=body), bank)
    assert len(table) == 35
    assert int(table.passed.sum()) >= BANK_SAMPLE_PASSED, table[~table.passed].to_string()


COMPOSITION_SAMPLE = 5
"""A fixed sample of the composition bank: every 5th request of its two-part, fine-control and
negation kinds (28 of 136) and its first three chained conversations (9 turns)."""
COMPOSITION_SAMPLE_PASSED = 21
"""How many of them the chat's default (the release checkpoint with its part composer, float16,
greedy) answers with the asked geometry; measured with this test's own sample (the full bank's
rates: README, ``python bench/plain_requests.py --bank composition``)."""


def test_the_chat_follows_the_composition_sample_at_its_measured_rate(body):
    from posekit.evaluation.request_bank import chat_answers, load_composition_bank

    bank = load_composition_bank()
    single = [r for r in bank if r.kind != "chained"][::COMPOSITION_SAMPLE]
    chains = [r for r in bank if r.kind == "chained" and r.conversation < 3]
    table, _ = chat_answers(ChatSession(body=body), single + chains)
    assert len(table) == 37
    assert int(table.passed.sum()) >= COMPOSITION_SAMPLE_PASSED, table[~table.passed].to_string()
