"""Everyday words for one body part's measured shape: the training language of fine control.

A part's configuration is drawn at random (an arm's shoulder and elbow, the knees, the lean of the
torso), posed, measured, and worded from the measurement, so that every phrase is true of its
pose: "lift your left arm to the height of your shoulder, out to the side, elbow bent at about 90
degrees", "bend both knees to roughly 120 degrees", "tip your upper body forward around 40
degrees". Heights, angles and amounts come in several registers (numbers, "a right angle", "a
little", "all the way"). The wording is authored here, apart from the test banks' requests.

    phrases = part_phrases(body, 2000, seed=0)     # [PartPhrase(text, pose (24, 3), joints), ...]
"""
from __future__ import annotations

import dataclasses
import math
import random

import torch

from posekit.body.parameters import pose_from_degrees
from posekit.body.skeleton import JOINT_INDEX as J

__all__ = ["PartPhrase", "part_phrases", "PHRASE_KINDS"]

PHRASE_KINDS = ("arm", "elbow", "knees", "knee_lift", "lean")
"""What a drawn phrase is about: one arm, one or both elbows, both knees, one knee lifted, the torso's lean."""

ARM_JOINTS = ("collar", "shoulder")
FOREARM_JOINTS = ("elbow", "wrist", "hand")


@dataclasses.dataclass(frozen=True)
class PartPhrase:
    text: str
    pose: torch.Tensor
    """``(24, 3)`` axis-angle: standing, with the phrase's part set as drawn."""
    joints: tuple[str, ...]
    """The joints whose rotations the phrase sets (SMPL names); the others are left as they were."""


def _angle(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> float:
    u, v = a - b, c - b
    return math.degrees(math.acos(max(-1.0, min(1.0, float(u @ v / (u.norm() * v.norm()))))))


def _degrees(rng: random.Random, value: float) -> str:
    """An angle as people say it: rounded to 5 or 10, "about" / "roughly" or bare."""
    step = rng.choice((5, 10))
    rounded = int(round(value / step) * step)
    return rng.choice(("", "about ", "roughly ", "around ", "some ")) + rng.choice((f"{rounded} degrees", f"{rounded}°"))


def _elbow_words(rng: random.Random, angle: float) -> str:
    if angle > 160:
        return rng.choice(("arm straight", "elbow locked", "elbow straight", "keeping the arm fully extended"))
    if 80 <= angle <= 100 and rng.random() < 0.5:
        return rng.choice(("elbow bent at a right angle", "elbow at ninety degrees", "elbow bent in an L"))
    if angle < 60:
        return rng.choice(("elbow bent all the way", "elbow tightly bent", "forearm folded in"))
    if angle > 130:
        return rng.choice(("elbow slightly bent", "a soft bend in the elbow", "elbow a little bent"))
    return rng.choice(("elbow bent to ", "bend the elbow to ", "elbow at ")) + _degrees(rng, angle)


def _arm(body, rng: random.Random, side: str, both: bool = False) -> PartPhrase | None:
    """One arm, or with ``both`` the two arms alike (``side`` is then the one measured)."""
    elevation = rng.uniform(-80, 95)  # 0 = straight out (T-pose), -80 down, 90 straight up
    swing = rng.choice((0.0, 0.0, rng.uniform(60, 95)))  # forward swing of the arm
    say_elbow = rng.random() < 0.6
    # an arm worded without its elbow is held naturally straight; the elbow's words say any other bend
    flex = rng.choice((0.0, rng.uniform(0, 140))) if say_elbow else rng.uniform(0, 15)
    angles = {"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, 75), "left_elbow": (0, -10, 0),
              "right_elbow": (0, 10, 0)}
    for s in (("left", "right") if both else (side,)):
        up, fwd = (1, -1) if s == "left" else (-1, 1)  # the library's sign conventions per side
        angles.update({f"{s}_shoulder": (0, fwd * swing, up * elevation), f"{s}_elbow": (0, fwd * flex, 0)})
    orient, body_pose = pose_from_degrees(angles)
    pose = torch.cat([orient[:, None], body_pose], 1)[0]  # (24, 3)
    with torch.no_grad():
        j = body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
    hand, shoulder, head = j[J[f"{side}_hand"]], j[J[f"{side}_shoulder"]], j[J["head"]]
    rise = float(hand[1] - shoulder[1])
    forward = float(hand[2] - shoulder[2])
    sideways = abs(float(hand[0] - shoulder[0]))
    elbow = _angle(shoulder, j[J[f"{side}_elbow"]], j[J[f"{side}_wrist"]])
    arm = (rng.choice(("arms", "hands", "arms")) if both else rng.choice((f"{side} arm", f"{side} hand", f"{side} arm")))
    sides = ("left", "right") if both else (side,)
    verb = rng.choice(("raise", "lift", "hold", "put", "bring", "extend", "move"))
    if float(hand[1] - head[1]) > 0.05:
        height = rng.choice(("above your head", "up over your head", "high overhead", "up toward the ceiling",
                             "up", "up in the air", "straight up", "up high"))
    elif rise > 0.1:
        height = rng.choice(("a little above shoulder level", "raised higher than the shoulder",
                             "partway above the shoulder"))
    elif rise > -0.1:
        height = rng.choice(("to shoulder height", "level with your shoulder", "at the height of your shoulder",
                             "up to the level of the shoulder"))
    elif rise > -0.45 and sideways + abs(forward) > 0.25:
        height = rng.choice(("a little away from your body", "slightly up", "a bit out from your side",
                             "a little way up", "partway up"))
    elif rise < -0.45:
        verb = rng.choice(("lower", "drop", "let", "keep", "rest"))
        height = rng.choice(("down by your side", "hanging down", "down along your body", "down"))
    else:
        return None
    direction = ""
    if -0.45 < rise <= 0.1:
        direction = (rng.choice(("in front of you", "forward", "straight ahead")) if forward > sideways
                     else rng.choice(("out to the side", "sideways", "out to your side")))
    your = rng.choice(("both your", "your", "both")) if both else "your"
    text = f"{verb} {your} {arm} {height}" + (f" {direction}" if direction else "")
    joints = tuple(f"{s}_{n}" for s in sides for n in (*ARM_JOINTS, *FOREARM_JOINTS))  # the whole arm, as worded
    if say_elbow:
        words = _elbow_words(rng, elbow)
        text += ", " + (words.replace("elbow", "elbows").replace("arm ", "arms ") if both else words)
    return PartPhrase(text, pose, joints)


def _elbow(body, rng: random.Random, side: str) -> PartPhrase:
    """Only the elbow (one, or both when ``side`` is "both"): the arm's height is left as it was."""
    flex = rng.choice((0.0, rng.uniform(0, 150)))
    sides = ("left", "right") if side == "both" else (side,)
    angles = {"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, 75), "left_elbow": (0, -10, 0),
              "right_elbow": (0, 10, 0), **{f"{s}_elbow": (0, (-1 if s == "left" else 1) * flex, 0) for s in sides}}
    orient, body_pose = pose_from_degrees(angles)
    pose = torch.cat([orient[:, None], body_pose], 1)[0]  # (24, 3)
    with torch.no_grad():
        j = body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
    s0 = sides[0]
    angle = _angle(j[J[f"{s0}_shoulder"]], j[J[f"{s0}_elbow"]], j[J[f"{s0}_wrist"]])
    which = (rng.choice(("both elbows", "your elbows", "the elbows")) if side == "both"
             else rng.choice((f"your {side} elbow", f"the {side} elbow", f"your {side} arm")))
    if angle > 160:
        text = rng.choice((f"straighten {which}", f"keep {which} straight", f"lock {which}"))
    else:
        text = rng.choice((f"bend {which}", f"keep {which} bent", f"bend {which}")) + rng.choice((
            " to ", " at ", " to ")) + (rng.choice(("a right angle", "ninety degrees")) if 80 <= angle <= 100
                                        and rng.random() < 0.5 else _degrees(rng, angle))
        if rng.random() < 0.25:
            text = rng.choice((f"bend {which} a little", f"keep {which} slightly bent")) if angle > 130 else \
                rng.choice((f"keep {which} bent", f"bend {which}")) if angle < 130 else text
    return PartPhrase(text, pose, tuple(f"{s}_{n}" for s in sides for n in FOREARM_JOINTS))


def _knees(body, rng: random.Random) -> PartPhrase:
    flex = rng.uniform(0, 120)
    hip = -flex * rng.uniform(0.45, 0.6)
    orient, body_pose = pose_from_degrees({"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, 75),
                                           "left_hip": (hip, 0, 0), "right_hip": (hip, 0, 0),
                                           "left_knee": (flex, 0, 0), "right_knee": (flex, 0, 0),
                                           "spine1": (-hip * 0.3, 0, 0)})
    pose = torch.cat([orient[:, None], body_pose], 1)[0]  # (24, 3)
    with torch.no_grad():
        j = body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
    knee = _angle(j[J["left_hip"]], j[J["left_knee"]], j[J["left_ankle"]])
    if knee > 165:
        text = rng.choice(("keep both legs straight", "legs straight", "straighten your knees fully",
                           "lock your knees"))
    elif knee > 140:
        text = rng.choice(("bend your knees a little", "a slight bend in both knees", "knees just slightly bent",
                           "soften the knees a touch"))
    elif 80 <= knee <= 100 and rng.random() < 0.5:
        text = rng.choice(("bend your knees to a right angle", "knees bent at ninety degrees",
                           "bend both knees until the thighs are level"))
    elif knee < 75:
        text = rng.choice(("bend your knees deeply", "sink all the way down on bent knees", "knees fully bent"))
    else:
        text = rng.choice(("bend your knees to ", "bend both knees to ", "knees bent at ")) + _degrees(rng, knee)
    return PartPhrase(text, pose, tuple(f"{s}_{n}" for s in ("left", "right") for n in ("hip", "knee", "ankle"))
                      + ("spine1",))


def _knee_lift(body, rng: random.Random, side: str) -> PartPhrase:
    hip = -rng.uniform(20, 110)
    knee = rng.uniform(0, 100)
    orient, body_pose = pose_from_degrees({"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, 75),
                                           f"{side}_hip": (hip, 0, 0), f"{side}_knee": (knee, 0, 0)})
    pose = torch.cat([orient[:, None], body_pose], 1)[0]  # (24, 3)
    with torch.no_grad():
        j = body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
    lift = float(j[J[f"{side}_knee"], 1] - j[J[f"{side}_hip"], 1])
    angle = _angle(j[J[f"{side}_hip"]], j[J[f"{side}_knee"]], j[J[f"{side}_ankle"]])
    thing = rng.choice((f"your {side} knee", f"the {side} knee", f"your {side} leg"))
    if lift > -0.1:
        height = rng.choice(("up to hip height", "as high as your hip", "until the thigh is level", "up high"))
    elif lift > -0.3:
        height = rng.choice(("partway up", "halfway to your hip", "a fair bit off the ground"))
    else:
        height = rng.choice(("a little", "just off the floor", "slightly"))
    text = f"{rng.choice(('lift', 'raise', 'bring up', 'pull up'))} {thing} {height}"
    if rng.random() < 0.6:
        text += ", " + (rng.choice(("leg straight", "keeping that leg straight")) if angle > 160
                        else rng.choice(("knee bent to ", "with the knee at ")) + _degrees(rng, angle))
    return PartPhrase(text, pose, (f"{side}_hip", f"{side}_knee", f"{side}_ankle"))


def _lean(body, rng: random.Random) -> PartPhrase:
    lean = rng.choice((rng.uniform(5, 100), rng.uniform(-35, -5)))
    share = (0.45, 0.3, 0.25)
    orient, body_pose = pose_from_degrees({"left_shoulder": (0, 0, -75), "right_shoulder": (0, 0, 75),
                                           **{f"spine{k + 1}": (lean * s, 0, 0) for k, s in enumerate(share)}})
    pose = torch.cat([orient[:, None], body_pose], 1)[0]  # (24, 3)
    with torch.no_grad():
        j = body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
    up = j[J["neck"]] - j[J["pelvis"]]
    measured = math.degrees(math.atan2(float(up[2]), float(up[1])))  # + forward, - back
    if measured < -4:
        text = (rng.choice(("lean back ", "tilt backwards ", "arch back ")) +
                (_degrees(rng, -measured) if rng.random() < 0.5 else rng.choice(("a little", "slightly", "a bit"))))
    elif measured < 22:
        text = (rng.choice(("lean forward a little", "tip forward slightly", "a slight forward lean"))
                if rng.random() < 0.6 else "lean forward " + _degrees(rng, measured))
    elif measured > 75:
        text = (rng.choice(("bend forward until your back is level", "fold the upper body down flat",
                            "bend over so the torso is horizontal")) if rng.random() < 0.5
                else "lean forward " + _degrees(rng, measured))
    else:
        text = rng.choice(("lean forward ", "tip your upper body forward ", "bend forward at the waist ")) + \
            _degrees(rng, measured)
    return PartPhrase(" ".join(text.split()), pose, ("spine1", "spine2", "spine3"))


def part_phrases(body, count: int, seed: int = 0) -> list[PartPhrase]:
    """``count`` drawn phrases, each true of its pose (measured on ``body``); the same seed gives
    the same phrases and poses."""
    rng = random.Random(seed)
    out: list[PartPhrase] = []
    while len(out) < count:
        kind = rng.choice(("arm", "arm", "arm", "elbow", "knees", "knee_lift", "lean"))
        side = rng.choice(("left", "right"))
        phrase = (_arm(body, rng, side, both=rng.random() < 0.35) if kind == "arm" else _knees(body, rng) if kind == "knees"
                  else _elbow(body, rng, rng.choice((side, "both"))) if kind == "elbow"
                  else _knee_lift(body, rng, side) if kind == "knee_lift" else _lean(body, rng))
        if phrase is not None:
            out.append(phrase)
    return out
