import math

import pytest
import roma
import torch
from posefixtures import POSES, posed

from posekit.body.skeleton import JOINT_INDEX, NUM_JOINTS
from posekit.language import posecodes as P

NAMES = list(POSES)


@pytest.fixture(scope="module")
def result(body):
    joints, rotmats = posed(body, NAMES)
    return P.compute_posecodes(joints, rotmats)


def cat(result, pose, code):
    return result.category(NAMES.index(pose), code)


def test_known_configurations(result):
    assert cat(result, "left elbow right angle", "angle:left_elbow") == "right angle"
    assert cat(result, "left elbow right angle", "angle:right_elbow") == "straight"
    assert cat(result, "right hand up", "position_y:right_hand-head") == "above"
    assert cat(result, "right hand up", "position_y:left_hand-head") == "below"
    assert cat(result, "kneeling", "super:kneeling") == "yes"
    assert cat(result, "sitting", "super:kneeling") == "no"
    for side in ("left", "right"):
        assert cat(result, "rest", f"ground:{side}_foot") == "on the ground"
        assert cat(result, "rest", f"ground:{side}_knee") == P.IGNORED
        assert cat(result, "sitting", f"orientation:{side}_hip-{side}_knee") == "horizontal"
        assert cat(result, "sitting", f"angle:{side}_knee") == "right angle"
    assert cat(result, "leaning forward", "inclination") == "leaning forward"
    assert cat(result, "rest", "inclination") == P.IGNORED
    assert cat(result, "lying on the back", "super:lying on the back") == "yes"
    assert cat(result, "head turned left", "head_turn") == "turned left a lot"
    assert cat(result, "rest", "orientation:pelvis-neck") == "vertical"


def test_values_are_measurements(result):
    value = result.values[NAMES.index("left elbow right angle"), P.posecode_index("angle:left_elbow")]
    assert value.item() == pytest.approx(90.0, abs=3.0)
    assert result.values[NAMES.index("rest"), P.posecode_index("angle:left_knee")].item() > 170
    assert result.values[NAMES.index("leaning forward"), P.posecode_index("inclination")].item() == pytest.approx(30, abs=8)


def test_invariant_to_heading_and_position(body):
    joints, rotmats = posed(body, NAMES)
    turn = roma.rotvec_to_rotmat(torch.tensor([0.0, 2.1, 0.0]))
    moved = joints @ turn.T + torch.tensor([3.0, 0.5, -2.0])
    a, b = P.compute_posecodes(joints, rotmats), P.compute_posecodes(moved, rotmats)
    assert torch.equal(a.categories, b.categories)
    assert torch.allclose(a.values.nan_to_num(), b.values.nan_to_num(), atol=1e-2)


def test_random_offsets_are_seeded(body):
    gen = torch.Generator().manual_seed(0)
    out = body(body_pose=torch.randn(256, 23, 3, generator=gen) * 0.4, joints_only=True)
    det1, det2 = P.compute_posecodes(out.joints), P.compute_posecodes(out.joints)
    assert torch.equal(det1.categories, det2.categories)
    r1 = P.compute_posecodes(out.joints, generator=torch.Generator().manual_seed(7))
    r2 = P.compute_posecodes(out.joints, generator=torch.Generator().manual_seed(7))
    r3 = P.compute_posecodes(out.joints, generator=torch.Generator().manual_seed(8))
    assert torch.equal(r1.categories, r2.categories)
    assert not torch.equal(r1.categories, r3.categories)
    # Offsets only move bin edges a little: most categories agree with the deterministic ones.
    assert (r1.categories == det1.categories).float().mean() > 0.9


def test_head_turn_needs_rotations(body):
    joints, rotmats = posed(body, ["head turned left"])
    assert P.compute_posecodes(joints).category(0, "head_turn") == P.IGNORED
    assert math.isnan(P.compute_posecodes(joints).values[0, P.posecode_index("head_turn")].item())
    assert P.compute_posecodes(joints, rotmats).category(0, "head_turn") == "turned left a lot"


def test_records_and_dataframe(result):
    records = result.records(NAMES.index("kneeling"))
    assert all(isinstance(r, P.Posecode) and r.category != P.IGNORED for r in records)
    assert ("super:kneeling", "yes") in result.active(NAMES.index("kneeling"))
    df = result.to_dataframe()
    assert list(df.columns) == ["pose", "posecode", "kind", "joints", "category", "value"]
    assert set(df["pose"]) == set(range(len(NAMES)))
    assert len(result.to_dataframe(include_ignored=True)) == len(NAMES) * len(P.POSECODES)


def test_smplh_layout_gives_the_same_posecodes(body):
    joints, _ = posed(body, NAMES)
    smplh = torch.zeros(len(NAMES), 52, 3)
    smplh[:, :22] = joints[:, :22]
    smplh[:, 25], smplh[:, 40] = joints[:, 22], joints[:, 23]  # middle-finger roots = SMPL hand joints
    assert torch.equal(P.compute_posecodes(smplh, layout="smplh").categories, P.compute_posecodes(joints).categories)
    with pytest.raises(ValueError, match="smplh"):
        P.compute_posecodes(joints, layout="smplh")


@pytest.mark.parametrize("bad,match", [
    (torch.zeros(2, 22, 3), r"\(B, 24, 3\)"),
    (torch.zeros(24, 3), r"\(B, 24, 3\)"),
    (torch.full((1, NUM_JOINTS, 3), float("nan")), "NaN"),
    (torch.ones(3, NUM_JOINTS, 3), "degenerate"),
])
def test_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        P.compute_posecodes(bad)


def test_spec_table_is_consistent():
    names = [s.name for s in P.POSECODES]
    assert len(names) == len(set(names))
    for spec in P.POSECODES:
        assert spec.kind in P.KINDS
        assert spec.trivial <= set(spec.categories) and spec.essential <= set(spec.categories)
    for constituents in P.SUPER_POSECODES.values():
        assert all(c in names for c in constituents)
    with pytest.raises(ValueError, match="thresholds"):
        P.PosecodeSpec("x", "angle", ("left_knee",), ("a", "b"), (1.0, 2.0))


def _stand_with_hands(body, left, right):
    """Rest joints (1, 24, 3) with the hand joints moved to ``left`` / ``right`` (x, y, z)."""
    joints, _ = posed(body, ["arms down"])
    joints = joints.clone()
    joints[0, JOINT_INDEX["left_hand"]] = torch.tensor(left)
    joints[0, JOINT_INDEX["right_hand"]] = torch.tensor(right)
    return joints


def test_shoulder_width_apart_needs_the_two_to_be_level(body):
    level = P.compute_posecodes(_stand_with_hands(body, (0.15, 0.0, 0.3), (-0.15, 0.0, 0.3)))
    assert level.category(0, "distance:left_hand-right_hand") == "shoulder width"
    assert level.category(0, "super:hands shoulder-width apart") == "yes"
    # Same distance class (0.34 m), but one hand 16 cm higher: 28 degrees off the horizontal.
    uneven = P.compute_posecodes(_stand_with_hands(body, (0.15, 0.16, 0.3), (-0.15, 0.0, 0.3)))
    assert uneven.category(0, "distance:left_hand-right_hand") == "shoulder width"
    assert uneven.category(0, "super:hands shoulder-width apart") == "no"


def test_upside_down_and_lying_bodies_do_not_lean(result):
    for name in ("headstand", "bent over upside down", "lying on the left side", "lying on the right side"):
        assert cat(result, name, "inclination") == P.IGNORED, name
        assert cat(result, name, "side_lean") == P.IGNORED, name
    assert cat(result, "leaning forward", "inclination") == "leaning forward"


def test_lying_on_the_side_has_a_defined_heading(body):
    """The hips line is vertical, so the heading comes from the body's front, which faces +z:
    whatever heading the body had, the codes are the same and the left hip is the lower one."""
    joints, rotmats = posed(body, ["lying on the left side", "lying on the right side"])
    normal = P.normalize_joints(joints)
    front = torch.cross(normal[:, JOINT_INDEX["left_hip"]] - normal[:, JOINT_INDEX["right_hip"]],
                        normal[:, JOINT_INDEX["neck"]], dim=-1)
    assert (front[:, 2] > 0.9 * front.norm(dim=-1)).all()
    hip_height = normal[:, JOINT_INDEX["left_hip"], 1] - normal[:, JOINT_INDEX["right_hip"], 1]
    assert hip_height[0] < 0 < hip_height[1]  # left side down, then right side down
    base = P.compute_posecodes(joints, rotmats).categories
    for angle in (0.7, 2.0, -2.9):
        turn = roma.rotvec_to_rotmat(torch.tensor([0.0, angle, 0.0]))
        assert torch.equal(P.compute_posecodes(joints @ turn.T, rotmats).categories, base)
    # The two sides are mirror images: each left code of one is the right code of the other.
    left = P.compute_posecodes(joints, rotmats)
    assert left.category(0, "ground:left_hand") == left.category(1, "ground:right_hand") == "on the ground"
    assert left.category(0, "position_y:right_hand-head") == left.category(1, "position_y:left_hand-head") == "above"


def test_twist_is_measured_about_the_torso(body):
    from posekit.body.parameters import pose_from_degrees

    params = [pose_from_degrees({"spine1": (0, a / 3, 0), "spine2": (0, a / 3, 0), "spine3": (0, a / 3, 0)})
              for a in (0, 30, 60)]
    out = body(torch.cat([p[0] for p in params]), torch.cat([p[1] for p in params]), joints_only=True)
    twist = P.compute_posecodes(out.joints, out.rotmats)
    assert [twist.category(b, "twist") for b in range(3)] == [P.IGNORED, "twisted left", "twisted left a lot"]
    # The same twist lying on the back reads the same.
    lying = [pose_from_degrees({"pelvis": (-90, 0, 0), "spine1": (0, 10, 0), "spine2": (0, 10, 0), "spine3": (0, 10, 0)})]
    out = body(lying[0][0], lying[0][1], joints_only=True)
    assert P.compute_posecodes(out.joints, out.rotmats).category(0, "twist") == "twisted left"


def test_nan_rotations_are_refused(body):
    joints, rotmats = posed(body, ["rest"])
    with pytest.raises(ValueError, match="rotmats contain NaN"):
        P.compute_posecodes(joints, torch.full_like(rotmats, float("nan")))
