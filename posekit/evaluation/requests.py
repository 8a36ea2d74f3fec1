"""Checks on the joints of an answer to a plain request ("raise both arms above your head"): does
the body have the asked geometry? Measurements in degrees and metres on joints ``(24, 3)`` (SMPL
axes: y up, the body's left at +x, facing +z; heading removed).

Each check has a name (:data:`CHECKS`); a request's check is an expression over them:
``"kneel_one | squat"`` (either), ``"sitting_floor & lean_forward"`` (both). Edit checks
compare the answer with the pose it started from (``start``: its joints, ``(24, 3)``).

    passes("kneel_one | squat", joints)                  # True / False
    passes("left_hand_higher", joints, start=before)     # an edit: "raise the left arm"
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch

from posekit.body.skeleton import JOINT_INDEX as J

__all__ = ["joint_angle", "knee_angle", "elbow_angle", "torso_lean", "floor_height", "hand_above_head", "facing_up",
           "measure", "CHECKS", "EDIT_CHECKS", "check_names", "passes", "PLAIN_REQUEST_CHECKS"]

SIDES = ("left", "right")


def joint_angle(a: torch.Tensor, b: torch.Tensor, c: torch.Tensor) -> float:
    """Angle (degrees) at ``b`` between ``a`` and ``c`` (points ``(3,)``)."""
    u, v = a - b, c - b
    return math.degrees(math.acos(max(-1.0, min(1.0, float((u @ v) / (u.norm() * v.norm()).clamp_min(1e-9))))))


def knee_angle(joints: torch.Tensor, side: str) -> float:
    """The ``side`` knee's angle (degrees): 180 straight, 90 a right angle."""
    return joint_angle(joints[J[f"{side}_hip"]], joints[J[f"{side}_knee"]], joints[J[f"{side}_ankle"]])


def elbow_angle(joints: torch.Tensor, side: str) -> float:
    """The ``side`` elbow's angle (degrees): 180 straight."""
    return joint_angle(joints[J[f"{side}_shoulder"]], joints[J[f"{side}_elbow"]], joints[J[f"{side}_wrist"]])


def torso_lean(joints: torch.Tensor) -> float:
    """Angle (degrees) of the torso (pelvis -> neck) from the vertical: 0 upright, 90 lying, 180 upside down."""
    torso = joints[J["neck"]] - joints[J["pelvis"]]
    return math.degrees(math.acos(max(-1.0, min(1.0, float(torso[1] / torso.norm())))))


def floor_height(joints: torch.Tensor) -> float:
    """The lowest joint's height (the floor the body stands, sits or lies on)."""
    return float(joints[:, 1].min())


def height(joints: torch.Tensor, name: str) -> float:
    """How far (metres) joint ``name`` is above the floor (:func:`floor_height`)."""
    return float(joints[J[name], 1]) - floor_height(joints)


def hand_above_head(joints: torch.Tensor, side: str) -> float:
    """How far (metres) the ``side`` hand is above the head (negative: below)."""
    return float(joints[J[f"{side}_hand"], 1] - joints[J["head"], 1])


def facing_up(joints: torch.Tensor) -> float:
    """The chest's facing direction's vertical component: 1 facing the sky (on the back), -1 the
    floor (face down), 0 level (standing, or lying on a side)."""
    across = joints[J["left_shoulder"]] - joints[J["right_shoulder"]]  # the body's left
    up = joints[J["neck"]] - joints[J["pelvis"]]
    front = torch.linalg.cross(across, up)  # left x up = forward (+z for a body standing at rest)
    return float(front[1] / front.norm().clamp_min(1e-9))


def distance(joints: torch.Tensor, a: str, b: str) -> float:
    return float((joints[J[a]] - joints[J[b]]).norm())


def _side_checks(side: str) -> dict[str, Callable[[torch.Tensor], bool]]:
    other = "right" if side == "left" else "left"
    sign = 1.0 if side == "left" else -1.0  # the body's left is +x
    s = side
    return {
        f"{s}_hand_up": lambda j: hand_above_head(j, s) > 0,
        f"{s}_hand_raised": lambda j: float(j[J[f"{s}_hand"], 1]) > float(j[J[f"{s}_shoulder"], 1]) + 0.1,
        f"{s}_hand_near_head": lambda j: distance(j, f"{s}_hand", "head") < 0.3,
        f"{s}_arm_forward": lambda j: (float(j[J[f"{s}_hand"], 2] - j[J[f"{s}_shoulder"], 2]) > 0.35
                                       and abs(float(j[J[f"{s}_hand"], 1] - j[J[f"{s}_shoulder"], 1])) < 0.35),
        f"{s}_arm_out": lambda j: (sign * float(j[J[f"{s}_hand"], 0] - j[J[f"{s}_shoulder"], 0]) > 0.35
                                   and abs(float(j[J[f"{s}_hand"], 1] - j[J[f"{s}_shoulder"], 1])) < 0.35),
        f"{s}_arm_down": lambda j: (float(j[J[f"{s}_hand"], 1]) < float(j[J["spine1"], 1])
                                    and abs(float(j[J[f"{s}_hand"], 0] - j[J[f"{s}_hip"], 0])) < 0.3),
        f"{s}_knee_lifted": lambda j: float(j[J[f"{s}_knee"], 1]) > float(j[J[f"{other}_knee"], 1]) + 0.2,
        f"{s}_foot_lifted": lambda j: float(j[J[f"{s}_ankle"], 1]) > float(j[J[f"{other}_ankle"], 1]) + 0.15,
        f"{s}_knee_down": lambda j: height(j, f"{s}_knee") < 0.15,
        f"{s}_lean": lambda j: sign * float(j[J["neck"], 0] - j[J["pelvis"], 0]) > 0.12,
        # fine control: angles and heights that a request names
        f"{s}_elbow_right_angle": lambda j: 65 < elbow_angle(j, s) < 115,
        f"{s}_elbow_straight": lambda j: elbow_angle(j, s) > 155,
        f"{s}_elbow_bent": lambda j: elbow_angle(j, s) < 130,
        f"{s}_knee_right_angle": lambda j: 65 < knee_angle(j, s) < 115,
        f"{s}_leg_straight": lambda j: knee_angle(j, s) > 155,
        f"{s}_hand_shoulder_height": lambda j: (abs(float(j[J[f"{s}_hand"], 1] - j[J[f"{s}_shoulder"], 1])) < 0.12
                                                and distance(j, f"{s}_hand", f"{s}_shoulder") > 0.35),
        f"{s}_arm_slightly_raised": lambda j: (-0.5 < float(j[J[f"{s}_hand"], 1] - j[J[f"{s}_shoulder"], 1]) < -0.15
                                               and distance(j, f"{s}_hand", f"{s}_hip") > 0.3),
        f"{s}_knee_hip_height": lambda j: float(j[J[f"{s}_knee"], 1]) > float(j[J[f"{s}_hip"], 1]) - 0.12,
        f"{s}_hand_on_knee": lambda j: min(distance(j, f"{s}_hand", f"{k}_knee") for k in SIDES) < 0.2,
        f"{s}_hand_on_hip": lambda j: distance(j, f"{s}_hand", f"{s}_hip") < 0.18,
        f"{s}_hand_on_floor": lambda j: height(j, f"{s}_hand") < 0.15,
    }


def _checks() -> dict[str, Callable[[torch.Tensor], bool]]:
    out: dict[str, Callable[[torch.Tensor], bool]] = {}
    for side in SIDES:
        out.update(_side_checks(side))

    def both(name: str) -> Callable[[torch.Tensor], bool]:
        return lambda j: out[f"left_{name}"](j) and out[f"right_{name}"](j)

    def either(name: str) -> Callable[[torch.Tensor], bool]:
        return lambda j: out[f"left_{name}"](j) or out[f"right_{name}"](j)

    for name in ("hand_up", "hand_raised", "hand_near_head", "arm_forward", "arm_out", "arm_down", "knee_down",
                 "elbow_right_angle", "elbow_straight", "elbow_bent", "hand_shoulder_height", "arm_slightly_raised",
                 "hand_on_hip"):
        plural = name.replace('hand', 'hands').replace('arm', 'arms').replace('knee', 'knees').replace('elbow', 'elbows')
        out[f"both_{plural}"] = both(name)
        out[f"a_{name}"] = either(name)
    out.update({
        "one_foot_lifted": either("foot_lifted"),
        "a_knee_lifted": either("knee_lifted"),
        "hands_on_hips": lambda j: all(distance(j, f"{s}_hand", f"{s}_hip") < 0.15
                                       and abs(float(j[J[f"{s}_elbow"], 0])) > abs(float(j[J[f"{s}_hand"], 0])) + 0.1
                                       for s in SIDES),  # akimbo: elbows out
        "hands_together": lambda j: distance(j, "left_hand", "right_hand") < 0.2,
        "hands_apart": lambda j: distance(j, "left_hand", "right_hand") > 1.2,
        "arms_crossed": lambda j: (float(j[J["left_hand"], 0]) < float(j[J["right_hand"], 0]) - 0.05
                                   and float(j[J["spine1"], 1]) < min(float(j[J[f"{s}_hand"], 1]) for s in SIDES)
                                   < float(j[J["head"], 1])),
        "hands_low": lambda j: max(float(j[J[f"{s}_hand"], 1]) for s in SIDES) < max(float(j[J[f"{s}_knee"], 1]) for s in SIDES),
        "legs_straight": lambda j: min(knee_angle(j, s) for s in SIDES) > 150,
        "knees_bent": lambda j: max(knee_angle(j, s) for s in SIDES) < 150,
        "a_knee_bent": lambda j: min(knee_angle(j, s) for s in SIDES) < 130,
        "deep_knees": lambda j: max(knee_angle(j, s) for s in SIDES) < 110,
        "upright": lambda j: torso_lean(j) < 25,
        "lean_forward": lambda j: torso_lean(j) > 30 and float(j[J["neck"], 2] - j[J["pelvis"], 2]) > 0.1,
        "lying": lambda j: 60 < torso_lean(j) < 120 and height(j, "pelvis") < 0.35,
        "on_the_back": lambda j: torso_lean(j) > 60 and facing_up(j) > 0.5,
        "face_down": lambda j: torso_lean(j) > 45 and facing_up(j) < -0.5,
        "on_a_side": lambda j: torso_lean(j) > 60 and abs(facing_up(j)) < 0.5 and height(j, "pelvis") < 0.35,
        "upside_down": lambda j: float(j[J["head"], 1]) < float(j[J["pelvis"], 1]) - 0.3,
        "hips_high": lambda j: float(j[J["pelvis"], 1]) > float(j[J["neck"], 1]) + 0.1,
        "low_body": lambda j: height(j, "head") < 1.0,
        "head_low": lambda j: height(j, "head") < 0.5,
        "kneel_one": lambda j: (min(height(j, f"{s}_knee") for s in SIDES) < 0.15
                                and max(height(j, f"{s}_knee") for s in SIDES) > 0.3),
        "kneel": lambda j: (all(height(j, f"{s}_knee") < 0.15 and float(j[J[f"{s}_ankle"], 2] - j[J[f"{s}_knee"], 2]) < -0.35
                                for s in SIDES) and torso_lean(j) < 60),
        "sitting": lambda j: (all(60 < knee_angle(j, s) < 135 and abs(float(j[J[f"{s}_hip"], 1] - j[J[f"{s}_knee"], 1])) < 0.15
                                  for s in SIDES) and 0.35 < height(j, "pelvis") < 0.65 and torso_lean(j) < 50),
        "sitting_floor": lambda j: (height(j, "pelvis") < 0.4 and torso_lean(j) < 60 and not out["kneel"](j)
                                    and min(height(j, f"{s}_knee") for s in SIDES) < 0.3),
        "squat": lambda j: (max(knee_angle(j, s) for s in SIDES) < 110 and min(height(j, f"{s}_knee") for s in SIDES) > 0.3
                            and height(j, "pelvis") < 0.45 and torso_lean(j) < 60),
        "legs_apart": lambda j: distance(j, "left_ankle", "right_ankle") > 0.55,
        "stride": lambda j: abs(float(j[J["left_ankle"], 2] - j[J["right_ankle"], 2])) > 0.3,
        "lunge": lambda j: (min(knee_angle(j, s) for s in SIDES) < 130
                            and abs(float(j[J["left_ankle"], 2] - j[J["right_ankle"], 2])) > 0.5),
        "head_down": lambda j: joint_angle(j[J["spine3"]], j[J["neck"]], j[J["head"]]) < 155
                               and float(j[J["head"], 2] - j[J["neck"], 2]) > 0.02,
        # fine control of the whole body
        "lean_slight": lambda j: 8 < torso_lean(j) < 30 and float(j[J["neck"], 2] - j[J["pelvis"], 2]) > 0.03,
        "lean_45": lambda j: 30 < torso_lean(j) < 62 and float(j[J["neck"], 2] - j[J["pelvis"], 2]) > 0.1,
        "lean_90": lambda j: 62 < torso_lean(j) < 118 and height(j, "pelvis") > 0.55,
        "lean_back": lambda j: 8 < torso_lean(j) < 80 and float(j[J["neck"], 2] - j[J["pelvis"], 2]) < -0.06,
        "knees_slightly_bent": lambda j: all(120 < knee_angle(j, s) < 168 for s in SIDES),
        "knees_right_angle": lambda j: all(65 < knee_angle(j, s) < 115 for s in SIDES),
        "hands_behind_head": lambda j: all(distance(j, f"{s}_hand", "head") < 0.3
                                           and float(j[J[f"{s}_hand"], 2] - j[J["head"], 2]) < 0.05 for s in SIDES),
        "hands_on_knees": lambda j: all(out[f"{s}_hand_on_knee"](j) for s in SIDES),
        "hands_on_floor": lambda j: all(out[f"{s}_hand_on_floor"](j) for s in SIDES),
        "feet_together": lambda j: distance(j, "left_ankle", "right_ankle") < 0.25,
        "legs_crossed": lambda j: (float((j[J["left_ankle"]] - j[J["right_ankle"]])
                                         @ (j[J["left_hip"]] - j[J["right_hip"]])) < 0
                                   or distance(j, "left_knee", "right_knee")
                                   - distance(j, "left_ankle", "right_ankle") > 0.35),
        "standing_up": lambda j: (torso_lean(j) < 25 and min(knee_angle(j, s) for s in SIDES) > 150
                                  and height(j, "pelvis") > 0.7),
    })
    return out


CHECKS: dict[str, Callable[[torch.Tensor], bool]] = _checks()
"""Named checks on an answer's joints ``(24, 3)``: posture (``sitting``, ``kneel_one``,
``on_the_back``, ``squat``, ``lunge``, ...), arms (``both_hands_up``, ``hands_on_hips``,
``arms_crossed``, ``left_arm_out``, ...), legs (``one_foot_lifted``, ``legs_apart``, ...)."""


def _edit_checks() -> dict[str, Callable[[torch.Tensor, torch.Tensor], bool]]:
    out: dict[str, Callable[[torch.Tensor, torch.Tensor], bool]] = {}
    for s in SIDES:
        out[f"{s}_hand_higher"] = lambda j, b, s=s: float(j[J[f"{s}_hand"], 1] - b[J[f"{s}_hand"], 1]) > 0.15
        out[f"{s}_hand_lower"] = lambda j, b, s=s: float(b[J[f"{s}_hand"], 1] - j[J[f"{s}_hand"], 1]) > 0.15
        out[f"{s}_knee_more_bent"] = lambda j, b, s=s: knee_angle(b, s) - knee_angle(j, s) > 15
        out[f"{s}_arm_kept"] = lambda j, b, s=s: float((j[J[f"{s}_hand"]] - b[J[f"{s}_hand"]]).norm()) < 0.2
        out[f"{s}_elbow_more_bent"] = lambda j, b, s=s: elbow_angle(b, s) - elbow_angle(j, s) > 25
        out[f"{s}_elbow_straighter"] = lambda j, b, s=s: elbow_angle(j, s) - elbow_angle(b, s) > 25
        out[f"{s}_knee_higher"] = lambda j, b, s=s: height(j, f"{s}_knee") - height(b, f"{s}_knee") > 0.15
    out["knees_more_bent"] = lambda j, b: all(out[f"{s}_knee_more_bent"](j, b) for s in SIDES)
    out["knees_straighter"] = lambda j, b: all(knee_angle(j, s) - knee_angle(b, s) > 15 for s in SIDES)
    out["both_hands_lower"] = lambda j, b: all(out[f"{s}_hand_lower"](j, b) for s in SIDES)
    out["both_hands_higher"] = lambda j, b: all(out[f"{s}_hand_higher"](j, b) for s in SIDES)
    out["lean_more"] = lambda j, b: torso_lean(j) - torso_lean(b) > 15
    out["more_upright"] = lambda j, b: torso_lean(b) - torso_lean(j) > 15
    out["hands_closer"] = lambda j, b: distance(b, "left_hand", "right_hand") - distance(j, "left_hand", "right_hand") > 0.2
    out["hands_wider"] = lambda j, b: distance(j, "left_hand", "right_hand") - distance(b, "left_hand", "right_hand") > 0.2
    out["feet_wider"] = lambda j, b: distance(j, "left_ankle", "right_ankle") - distance(b, "left_ankle", "right_ankle") > 0.15
    out["legs_kept"] = lambda j, b: all(abs(knee_angle(j, s) - knee_angle(b, s)) < 25 for s in SIDES)
    out["arms_kept"] = lambda j, b: all(out[f"{s}_arm_kept"](j, b) for s in SIDES)
    out["body_lower"] = lambda j, b: height(b, "pelvis") - height(j, "pelvis") > 0.15
    out["body_higher"] = lambda j, b: height(j, "pelvis") - height(b, "pelvis") > 0.15
    out["posture_kept"] = lambda j, b: (abs(height(j, "pelvis") - height(b, "pelvis")) < 0.12
                                        and abs(torso_lean(j) - torso_lean(b)) < 20)
    return out


EDIT_CHECKS: dict[str, Callable[[torch.Tensor, torch.Tensor], bool]] = _edit_checks()
"""Named checks of an edit: the answer's joints against the starting pose's ``(24, 3)`` each
(``left_hand_higher``, ``knees_more_bent``, ``lean_more``, ``legs_kept``, ...)."""


def check_names(expression: str) -> list[str]:
    """The check names an expression uses (``"kneel_one | squat & !upright"`` -> three names; ``!``
    negates a check); raises ``ValueError`` naming an unknown one."""
    names = [name.strip().removeprefix("!").strip() for alternative in expression.split("|")
             for name in alternative.split("&")]
    unknown = [n for n in names if n not in CHECKS and n not in EDIT_CHECKS]
    if unknown or not all(names):
        raise ValueError(f"unknown check(s) {unknown or [expression]} in {expression!r}; known: "
                         f"{', '.join(sorted(CHECKS))}; edits: {', '.join(sorted(EDIT_CHECKS))}")
    return names


def passes(expression: str, joints: torch.Tensor, start: torch.Tensor | None = None) -> bool:
    """Whether joints ``(24, 3)`` pass ``expression`` (``|`` between alternatives, ``&`` inside
    one, ``!`` before a check: it must fail); edit checks need ``start``, the joints of the pose
    the edit began from."""
    check_names(expression)
    for alternative in expression.split("|"):
        ok = True
        for term in (n.strip() for n in alternative.split("&")):
            negated = term.startswith("!")
            name = term.removeprefix("!").strip()
            if name in EDIT_CHECKS:
                if start is None:
                    raise ValueError(f"{name!r} compares an edit with its starting pose: pass start=")
                ok = EDIT_CHECKS[name](joints, start)
            else:
                ok = CHECKS[name](joints)
            ok = ok != negated
            if not ok:
                break
        if ok:
            return True
    return False


def measure(joints: torch.Tensor) -> dict[str, float]:
    """The measurements the checks read, rounded for a table."""
    return {"left knee (deg)": round(knee_angle(joints, "left")), "right knee (deg)": round(knee_angle(joints, "right")),
            "torso lean (deg)": round(torso_lean(joints)),
            "pelvis above floor (m)": round(float(joints[J["pelvis"], 1]) - floor_height(joints), 2),
            "left hand above head (m)": round(hand_above_head(joints, "left"), 2),
            "right hand above head (m)": round(hand_above_head(joints, "right"), 2),
            "hands apart (m)": round(float((joints[J["left_hand"]] - joints[J["right_hand"]]).norm()), 2)}


PLAIN_REQUEST_CHECKS: dict[str, Callable[[torch.Tensor], bool]] = {
    "Raise your left arm above your head.": CHECKS["left_hand_up"],
    "Raise both arms above your head.": CHECKS["both_hands_up"],
    "Put your hands on your hips.":
        lambda j: all(float((j[J[f"{s}_hand"]] - j[J[f"{s}_hip"]]).norm()) < 0.25 for s in SIDES),
    "Sit down on a chair.":
        lambda j: knee_angle(j, "left") < 140 and knee_angle(j, "right") < 140,
    "Squat down low.":
        lambda j: knee_angle(j, "left") < 110 and knee_angle(j, "right") < 110,
    "Kneel on both knees.": CHECKS["both_knees_down"],
    "Lie on your back.":
        lambda j: torso_lean(j) > 60,
    "Bend forward at the waist.":
        lambda j: torso_lean(j) > 30,
    "Stand on your right leg and lift your left knee.": CHECKS["left_knee_lifted"],
    "Spread your arms out to the sides.": CHECKS["hands_apart"],
    "Stand up straight with your arms down by your sides.":
        lambda j: (knee_angle(j, "left") > 150 and knee_angle(j, "right") > 150
                   and float(j[J["left_hand"], 1]) < float(j[J["pelvis"], 1])),
    "Cross your arms in front of your chest.":
        lambda j: float(j[J["left_hand"], 0]) < float(j[J["right_hand"], 0]),  # the body's left is +x: crossed hands swap
}
"""Twelve plain requests a person types, each with the check its answer's joints must pass
(the checks ``tests/test_plain_requests.py`` has always used)."""
