"""Checks on the joints of an answer to a plain request ("raise both arms above your head"): does
the body have the asked geometry? Measurements in degrees and metres on joints ``(24, 3)`` (SMPL
axes: y up, the body's left at +x)."""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from posekit.body.skeleton import JOINT_INDEX as J

__all__ = ["joint_angle", "knee_angle", "torso_lean", "floor_height", "hand_above_head", "measure",
           "PLAIN_REQUEST_CHECKS"]


def joint_angle(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> float:
    """Angle (degrees) at ``b`` between ``a`` and ``c`` (points ``(3,)``)."""
    u, v = a - b, c - b
    return math.degrees(math.acos(round(float((u @ v) / (u.norm() * v.norm())), 6)))


def knee_angle(joints: torch.Tensor, side: str) -> float:
    """The ``side`` knee's angle (degrees): 180 straight, 90 a right angle."""
    return joint_angle(joints[J[f"{side}_hip"]], joints[J[f"{side}_knee"]], joints[J[f"{side}_ankle"]])


def torso_lean(joints: torch.Tensor) -> float:
    """Angle (degrees) of the torso (pelvis -> neck) from the vertical: 0 upright, 90 lying."""
    torso = joints[J["neck"]] - joints[J["pelvis"]]
    return math.degrees(math.acos(float(torso[1] / torso.norm())))


def floor_height(joints: torch.Tensor) -> float:
    """The lowest joint's height (the floor the body stands, sits or lies on)."""
    return float(joints[:, 1].min())


def hand_above_head(joints: torch.Tensor, side: str) -> float:
    """How far (metres) the ``side`` hand is above the head (negative: below)."""
    return float(joints[J[f"{side}_hand"], 1] - joints[J["head"], 1])


def measure(joints: torch.Tensor) -> dict[str, float]:
    """The measurements the checks read, rounded for a table."""
    return {"left knee (deg)": round(knee_angle(joints, "left")), "right knee (deg)": round(knee_angle(joints, "right")),
            "torso lean (deg)": round(torso_lean(joints)),
            "pelvis above floor (m)": round(float(joints[J["pelvis"], 1]) - floor_height(joints), 2),
            "left hand above head (m)": round(hand_above_head(joints, "left"), 2),
            "right hand above head (m)": round(hand_above_head(joints, "right"), 2),
            "hands apart (m)": round(float((joints[J["left_hand"]] - joints[J["right_hand"]]).norm()), 2)}


PLAIN_REQUEST_CHECKS: dict[str, Callable[[torch.Tensor], bool]] = {
    "Raise your left arm above your head.":
        lambda j: hand_above_head(j, "left") > 0,
    "Raise both arms above your head.":
        lambda j: hand_above_head(j, "left") > 0 and hand_above_head(j, "right") > 0,
    "Put your hands on your hips.":
        lambda j: all(float((j[J[f"{s}_hand"]] - j[J[f"{s}_hip"]]).norm()) < 0.25 for s in ("left", "right")),
    "Sit down on a chair.":
        lambda j: knee_angle(j, "left") < 140 and knee_angle(j, "right") < 140,
    "Squat down low.":
        lambda j: knee_angle(j, "left") < 110 and knee_angle(j, "right") < 110,
    "Kneel on both knees.":
        lambda j: all(float(j[J[f"{s}_knee"], 1]) - floor_height(j) < 0.15 for s in ("left", "right")),
    "Lie on your back.":
        lambda j: torso_lean(j) > 60,
    "Bend forward at the waist.":
        lambda j: torso_lean(j) > 30,
    "Stand on your right leg and lift your left knee.":
        lambda j: float(j[J["left_knee"], 1]) > float(j[J["right_knee"], 1]) + 0.2,
    "Spread your arms out to the sides.":
        lambda j: float((j[J["left_hand"]] - j[J["right_hand"]]).norm()) > 1.2,
    "Stand up straight with your arms down by your sides.":
        lambda j: (knee_angle(j, "left") > 150 and knee_angle(j, "right") > 150
                   and float(j[J["left_hand"], 1]) < float(j[J["pelvis"], 1])),
    "Cross your arms in front of your chest.":
        lambda j: float(j[J["left_hand"], 0]) < float(j[J["right_hand"], 0]),  # the body's left is +x: crossed hands swap
}
"""Twelve plain requests a person types, each with the check its answer's joints must pass."""
