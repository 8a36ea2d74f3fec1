"""The shipped ChatPose model follows plain requests a person types, not only the captioner's
templates: a dozen hand-written requests through the chat, each answer checked on its joints.

Requests the shipped model does not follow yet are marked ``xfail(strict=True)`` with what was
measured: they fail the suite the day they start passing, so the list stays true."""
import math

import pytest
import torch

from posekit.body.skeleton import JOINT_INDEX as J
from posekit.chat import ChatSession


def _angle(a, b, c) -> float:
    """Angle (degrees) at ``b`` between ``a`` and ``c`` (joints (3,))."""
    u, v = a - b, c - b
    return math.degrees(math.acos(float((u @ v) / (u.norm() * v.norm())).__round__(6)))


def _lean(joints) -> float:
    """Angle (degrees) of the torso (pelvis -> neck) from the vertical."""
    torso = joints[J["neck"]] - joints[J["pelvis"]]
    return math.degrees(math.acos(float(torso[1] / torso.norm())))


def _knee(joints, side: str) -> float:
    return _angle(joints[J[f"{side}_hip"]], joints[J[f"{side}_knee"]], joints[J[f"{side}_ankle"]])


def _floor(joints) -> float:
    return float(joints[:, 1].min())


CHECKS = {
    "Raise your left arm above your head.":
        lambda j: j[J["left_hand"], 1] > j[J["head"], 1],
    "Raise both arms above your head.":
        lambda j: j[J["left_hand"], 1] > j[J["head"], 1] and j[J["right_hand"], 1] > j[J["head"], 1],
    "Put your hands on your hips.":
        lambda j: all((j[J[f"{s}_hand"]] - j[J[f"{s}_hip"]]).norm() < 0.25 for s in ("left", "right")),
    "Sit down on a chair.":
        lambda j: _knee(j, "left") < 140 and _knee(j, "right") < 140,
    "Squat down low.":
        lambda j: _knee(j, "left") < 110 and _knee(j, "right") < 110,
    "Kneel on both knees.":
        lambda j: all(j[J[f"{s}_knee"], 1] - _floor(j) < 0.15 for s in ("left", "right")),
    "Lie on your back.":
        lambda j: _lean(j) > 60,
    "Bend forward at the waist.":
        lambda j: _lean(j) > 30,
    "Stand on your right leg and lift your left knee.":
        lambda j: j[J["left_knee"], 1] > j[J["right_knee"], 1] + 0.2,
    "Spread your arms out to the sides.":
        lambda j: (j[J["left_hand"]] - j[J["right_hand"]]).norm() > 1.2,
    "Stand up straight with your arms down by your sides.":
        lambda j: _knee(j, "left") > 150 and _knee(j, "right") > 150 and j[J["left_hand"], 1] < j[J["pelvis"], 1],
    "Cross your arms in front of your chest.":
        lambda j: j[J["left_hand"], 0] < j[J["right_hand"], 0],  # the body's left is +x: crossed hands swap sides
}
NOT_YET: dict[str, str] = {
    "Kneel on both knees.":
        "measured: knees bent at 90 and 92 degrees, a half kneel: the confidence gate (design L) shrinks the answer "
        "toward standing; design K, without the gate, knelt",
    "Bend forward at the waist.":
        "measured: knees bent (119 degrees) with the torso leaning 3 degrees, not a bend at the waist",
    "Stand on your right leg and lift your left knee.":
        "measured: both knees a little bent (132 and 134 degrees), the left knee not raised 0.2 m above the right",
    "Stand up straight with your arms down by your sides.":
        "measured: legs straight (knees 162 and 161 degrees) but the hands 0.23 m below the head and 0.88 m apart, "
        "not down by the sides (design H followed it; design J's stage 2 lost it)",
}
"""Requests the shipped model misses, with what it does instead (filled from measurement)."""


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
