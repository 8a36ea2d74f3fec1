"""The posecode registry: which posecodes exist (:data:`POSECODES`), their kinds, categories and
thresholds, and the super-posecodes built from them. Computing them on joints:
:mod:`posekit.language.posecodes`."""
from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from posekit.body.skeleton import JOINT_NAMES

IGNORED = "ignored"
"""Category of a posecode that says nothing worth describing (inside a dead zone)."""

# Extra, virtual body parts built from SMPL joints.
VIRTUAL_JOINTS: dict[str, tuple[str, ...]] = {
    "torso": ("spine2", "spine3"),
    "hips": ("left_hip", "right_hip"),
}
PART_NAMES = JOINT_NAMES + tuple(VIRTUAL_JOINTS)
"""SMPL's joints, then the virtual parts: the columns of the parts posecodes compare."""
PART_INDEX = {name: i for i, name in enumerate(PART_NAMES)}


@dataclasses.dataclass(frozen=True)
class PosecodeSpec:
    """One posecode: what it measures and how it is binned."""

    name: str
    """Unique id, e.g. ``"angle:left_knee"``."""
    kind: str
    """One of :data:`KINDS`."""
    joints: tuple[str, ...]
    """Body parts it is measured on (SMPL joint names or ``torso`` / ``hips``)."""
    categories: tuple[str, ...]
    """Category names, from the lowest value bin to the highest."""
    thresholds: tuple[float, ...]
    """Bin edges (``len(categories) - 1``), in the unit of the value (degrees or metres)."""
    noise: float = 0.0
    """Half-width of the random offset added to each threshold in random mode."""
    trivial: frozenset[str] = frozenset()
    """Categories too common to be worth describing (e.g. straight knees)."""
    essential: frozenset[str] = frozenset()
    """Categories always kept in captions (rare and telling, e.g. a hand above the head)."""

    def __post_init__(self) -> None:
        if len(self.thresholds) != len(self.categories) - 1:
            raise ValueError(f"{self.name}: {len(self.categories)} categories need {len(self.categories) - 1} thresholds")
        if list(self.thresholds) != sorted(self.thresholds):
            raise ValueError(f"{self.name}: thresholds must increase, got {self.thresholds}")


@dataclasses.dataclass(frozen=True)
class Posecode:
    """One posecode of one pose, as a typed record."""

    kind: str
    joints: tuple[str, ...]
    category: str
    value: float
    name: str


KINDS = ("angle", "distance", "position_x", "position_y", "position_z", "orientation", "ground",
         "inclination", "twist", "side_lean", "facing", "head_incline", "head_turn", "head_tilt", "super")

ANGLE_CATEGORIES = ("completely bent", "bent more", "right angle", "bent less", "slightly bent", "straight")
ANGLE_THRESHOLDS = (45.0, 75.0, 105.0, 135.0, 160.0)
DISTANCE_CATEGORIES = ("close", "shoulder width", "spread", "wide")
DISTANCE_THRESHOLDS = (0.20, 0.40, 0.80)
CONTACT_DISTANCE = 0.20
"""A hand or foot this close (m) to another body part is "close to" it (PoseScript's value)."""
LATERAL_DEAD_ZONE = 0.15
"""Left/right offsets (m) smaller than this say nothing (PoseScript's value)."""
LEVEL_DEGREES = 10.0
"""Two hands (feet) are "shoulder-width apart" only when the line between them is within this
angle of the horizontal (PoseScript's rule)."""
UPRIGHT_MARGIN = 0.20
"""Lean forward / backward / sideways is measured only when an ankle is at least this far (m)
below the shoulders (PoseScript's rule): upside-down and lying bodies do not "lean"."""


def _sides(template: Sequence[str]) -> list[tuple[str, ...]]:
    """Expand ``{s}`` / ``{o}`` (this side / other side) into left and right versions."""
    out = []
    for s, o in (("left", "right"), ("right", "left")):
        out.append(tuple(t.format(s=s, o=o) for t in template))
    return out


def _build_posecodes() -> tuple[PosecodeSpec, ...]:
    specs: list[PosecodeSpec] = []
    add = specs.append
    for joint in ("elbow", "knee"):
        for side in ("left", "right"):
            add(PosecodeSpec(f"angle:{side}_{joint}", "angle", (f"{side}_{joint}",), ANGLE_CATEGORIES,
                             ANGLE_THRESHOLDS, noise=5.0, trivial=frozenset({"straight"}),
                             essential=frozenset({"completely bent", "right angle"})))
    # Distances: between symmetric limbs (all categories say something) ...
    for a, b in (("left_hand", "right_hand"), ("left_elbow", "right_elbow"), ("left_knee", "right_knee"),
                 ("left_foot", "right_foot")):
        trivial = {"left_foot": {"close", "shoulder width"}, "left_knee": {"close", "shoulder width"},
                   "left_elbow": {"shoulder width", "spread"}, "left_hand": {"spread"}}[a]
        add(PosecodeSpec(f"distance:{a}-{b}", "distance", (a, b), DISTANCE_CATEGORIES, DISTANCE_THRESHOLDS,
                         noise=0.03, trivial=frozenset(trivial), essential=frozenset({"wide"} if a != "left_hand" else {"close"})))
    # ... and a hand or foot near another body part (only "close" says something).
    for pair in (("{s}_hand", "{s}_shoulder"), ("{s}_hand", "{o}_shoulder"), ("{s}_hand", "head"),
                 ("{s}_hand", "{s}_knee"), ("{s}_hand", "{s}_foot"), ("{s}_hand", "{s}_hip"),
                 ("{s}_foot", "{o}_knee")):
        for a, b in _sides(pair):
            add(PosecodeSpec(f"distance:{a}-{b}", "distance", (a, b), ("close", IGNORED), (CONTACT_DISTANCE,), noise=0.02,
                             essential=frozenset({"close"})))
    # Relative positions along x (the body's left is +x): A at the right of / at the left of B.
    for a, b, normal in (("left_hand", "right_hand", "at the left of"), ("left_foot", "right_foot", "at the left of"),
                         ("left_knee", "right_knee", "at the left of"), ("left_hand", "torso", "at the left of"),
                         ("right_hand", "torso", "at the right of")):
        add(PosecodeSpec(f"position_x:{a}-{b}", "position_x", (a, b), ("at the right of", IGNORED, "at the left of"),
                         (-LATERAL_DEAD_ZONE, LATERAL_DEAD_ZONE), noise=0.03, trivial=frozenset({normal}),
                         essential=frozenset({"at the right of", "at the left of"} - {normal})))
    # Relative heights.
    for pair, trivial, essential in (
        (("{s}_hand", "head"), {"below"}, {"above"}),
        (("{s}_hand", "{s}_shoulder"), {"below"}, set()),
        (("{s}_hand", "hips"), {"above"}, {"below"}),
        (("{s}_elbow", "{s}_shoulder"), {"below"}, {"above"}),
        (("{s}_knee", "{s}_hip"), {"below"}, {"above"}),
        (("{s}_foot", "{s}_knee"), {"below"}, {"above"}),
        (("{s}_foot", "{o}_foot"), set(), set()),
        (("{s}_foot", "{o}_knee"), {"below"}, {"above"}),
    ):
        for a, b in _sides(pair):
            add(PosecodeSpec(f"position_y:{a}-{b}", "position_y", (a, b), ("below", IGNORED, "above"),
                             (-0.15, 0.15), noise=0.03, trivial=frozenset(trivial), essential=frozenset(essential)))
    add(PosecodeSpec("position_y:head-hips", "position_y", ("head", "hips"), ("below", IGNORED, "above"),
                     (-0.15, 0.15), noise=0.03, trivial=frozenset({"above"}), essential=frozenset({"below"})))
    # Front / behind (+z is in front of the body).
    for pair, trivial in ((("{s}_hand", "torso"), set()), (("{s}_foot", "hips"), set()), (("{s}_foot", "{o}_foot"), set())):
        for a, b in _sides(pair):
            add(PosecodeSpec(f"position_z:{a}-{b}", "position_z", (a, b), ("behind", IGNORED, "in front of"),
                             (-0.15, 0.15), noise=0.03, trivial=frozenset(trivial)))
    # Limb segments relative to the vertical axis (degrees, 0 = vertical).
    for a, b, trivial in (("{s}_shoulder", "{s}_elbow", set()), ("{s}_elbow", "{s}_wrist", set()),
                          ("{s}_hip", "{s}_knee", {"vertical"}), ("{s}_knee", "{s}_ankle", {"vertical"})):
        for ja, jb in _sides((a, b)):
            add(PosecodeSpec(f"orientation:{ja}-{jb}", "orientation", (ja, jb), ("vertical", IGNORED, "horizontal"),
                             (10.0, 80.0), noise=3.0, trivial=frozenset(trivial)))
    add(PosecodeSpec("orientation:pelvis-neck", "orientation", ("pelvis", "neck"), ("vertical", IGNORED, "horizontal"),
                     (10.0, 80.0), noise=3.0, trivial=frozenset({"vertical"}), essential=frozenset({"horizontal"})))
    # Contact with the ground: height above the lowest joint (metres).
    for joint in ("left_foot", "right_foot", "left_knee", "right_knee", "left_hand", "right_hand", "pelvis", "head"):
        add(PosecodeSpec(f"ground:{joint}", "ground", (joint,), ("on the ground", IGNORED), (0.10,), noise=0.02,
                         essential=frozenset() if "foot" in joint else frozenset({"on the ground"})))
    # Whole body: torso (pelvis -> neck) leaning forward/backward, sideways, twisted (degrees).
    add(PosecodeSpec("inclination", "inclination", ("pelvis", "neck"),
                     ("leaning backward a lot", "leaning backward", IGNORED, "leaning forward", "leaning forward a lot"),
                     (-50.0, -20.0, 20.0, 50.0), noise=4.0))
    add(PosecodeSpec("side_lean", "side_lean", ("pelvis", "neck"),
                     ("leaning right a lot", "leaning right", IGNORED, "leaning left", "leaning left a lot"),
                     (-30.0, -15.0, 15.0, 30.0), noise=3.0))
    add(PosecodeSpec("twist", "twist", ("left_shoulder", "right_shoulder"),
                     ("twisted right a lot", "twisted right", IGNORED, "twisted left", "twisted left a lot"),
                     (-50.0, -20.0, 20.0, 50.0), noise=3.0))
    add(PosecodeSpec("facing", "facing", ("left_shoulder", "right_shoulder", "pelvis", "neck"),
                     ("facing down", IGNORED, "facing up"), (-0.7, 0.7), noise=0.05))
    # Head relative to the upper back (from joint rotations when given, else from the neck).
    for kind, cats in (("head_incline", ("tilted back a lot", "tilted back", IGNORED, "bent forward", "bent forward a lot")),
                       ("head_turn", ("turned right a lot", "turned right", IGNORED, "turned left", "turned left a lot")),
                       ("head_tilt", ("tilted right a lot", "tilted right", IGNORED, "tilted left", "tilted left a lot"))):
        add(PosecodeSpec(kind, kind, ("neck", "head"), cats, (-30.0, -15.0, 15.0, 30.0), noise=3.0))
    return tuple(specs)


BASE_POSECODES = _build_posecodes()

SUPER_POSECODES: dict[str, tuple[str, ...]] = {
    "kneeling": ("ground:left_knee", "ground:right_knee", "angle:left_knee", "angle:right_knee"),
    "kneeling on the left knee": ("ground:left_knee", "angle:left_knee"),
    "kneeling on the right knee": ("ground:right_knee", "angle:right_knee"),
    "squatting": ("angle:left_knee", "angle:right_knee", "ground:left_foot", "ground:right_foot"),
    "lying on the back": ("orientation:pelvis-neck", "facing", "inclination"),
    "lying face down": ("orientation:pelvis-neck", "facing", "inclination"),
    "torso horizontal": ("orientation:pelvis-neck", "inclination"),
    "hands shoulder-width apart": ("distance:left_hand-right_hand",),
    "feet shoulder-width apart": ("distance:left_foot-right_foot",),
    "arms crossed": ("position_x:left_hand-right_hand", "position_z:left_hand-torso", "position_z:right_hand-torso"),
    "hands on the hips": ("distance:left_hand-left_hip", "distance:right_hand-right_hip"),
}
"""Super-posecodes and the posecodes they summarise (and replace in captions)."""

_COMMON_SUPER = {"hands shoulder-width apart", "feet shoulder-width apart"}
POSECODES: tuple[PosecodeSpec, ...] = BASE_POSECODES + tuple(
    PosecodeSpec(f"super:{name}", "super", (), ("no", "yes"), (0.5,),
                 essential=frozenset() if name in _COMMON_SUPER else frozenset({"yes"}))
    for name in SUPER_POSECODES
)
"""Every posecode, base ones first, then the super-posecodes (value 1.0 when they hold)."""
POSECODE_COLUMN = {spec.name: i for i, spec in enumerate(POSECODES)}


def posecode_index(name: str) -> int:
    """Column of posecode ``name`` in a :class:`PosecodeResult`."""
    try:
        return POSECODE_COLUMN[name]
    except KeyError:
        raise KeyError(f"unknown posecode {name!r}; see posekit.language.posecodes.POSECODES") from None
