import pytest
import torch

from posekit.corpus.library import library_params, load_pose_library
from posekit.evaluation.requests import PLAIN_REQUEST_CHECKS, joint_angle, knee_angle, measure, passes, torso_lean


def test_angles_are_degrees_at_the_middle_point():
    a, b = torch.tensor([1.0, 0, 0]), torch.tensor([0.0, 0, 0])
    assert joint_angle(a, b, torch.tensor([0.0, 1, 0])) == pytest.approx(90)
    assert joint_angle(a, b, torch.tensor([-1.0, 0, 0])) == pytest.approx(180)


@pytest.fixture(scope="module")
def classic(body):
    names = ["arms down", "sitting", "squatting"]
    out = body(*library_params(names, load_pose_library()), joints_only=True)
    return dict(zip(names, out.joints))


def test_authored_poses_pass_their_own_checks_and_fail_the_others(classic):
    standing, sitting = classic["arms down"], classic["sitting"]
    assert PLAIN_REQUEST_CHECKS["Stand up straight with your arms down by your sides."](standing)
    assert not PLAIN_REQUEST_CHECKS["Sit down on a chair."](standing)
    assert PLAIN_REQUEST_CHECKS["Sit down on a chair."](sitting)
    assert not PLAIN_REQUEST_CHECKS["Raise both arms above your head."](standing)
    assert PLAIN_REQUEST_CHECKS["Squat down low."](classic["squatting"])
    assert knee_angle(standing, "left") > 160 and torso_lean(standing) < 15


def test_measure_reports_every_quantity_the_checks_read(classic):
    row = measure(classic["sitting"])
    assert set(row) >= {"left knee (deg)", "right knee (deg)", "torso lean (deg)", "hands apart (m)"}
    assert row["left knee (deg)"] < 140


@pytest.fixture(scope="module")
def canonical_joints(body):
    from posekit.corpus.library import canonical_poses

    poses = canonical_poses()
    stacked = torch.stack(list(poses.values()))
    return dict(zip(poses, body(stacked[:, 0], stacked[:, 1:], joints_only=True).joints))


@pytest.mark.parametrize("check, passing, failing", [
    ("hands_on_hips", "hands on hips", "standing at attention"),
    ("kneel_one", "kneeling on one knee", "kneeling upright"),
    ("kneel", "kneeling upright", "kneeling on one knee"),
    ("sitting", "sitting on a chair", "squatting"),
    ("sitting_floor", "sitting cross-legged", "sitting on a chair"),
    ("squat", "squatting", "sitting on a chair"),
    ("on_the_back", "lying on the back", "lying face down"),
    ("face_down", "lying face down", "lying on the back"),
    ("arms_crossed", "arms crossed", "praying standing"),
    ("both_arms_out", "warrior II", "standing"),
    ("upside_down", "handstand", "standing"),
    ("one_foot_lifted", "tree pose", "standing"),
    ("lunge", "lunge", "standing with feet apart"),
    ("both_hands_up", "victory arms in a V", "waving"),
])
def test_named_checks_tell_their_pose_from_a_near_miss(canonical_joints, check, passing, failing):
    assert passes(check, canonical_joints[passing])
    assert not passes(check, canonical_joints[failing])


def test_check_expressions_combine_and_name_unknown_checks(canonical_joints):
    kneel = canonical_joints["kneeling on one knee"]
    assert passes("squat | kneel_one", kneel) and not passes("squat & kneel_one", kneel)
    with pytest.raises(ValueError, match="unknown check"):
        passes("kneel_on_one_knee", kneel)
    with pytest.raises(ValueError, match="start="):
        passes("left_hand_higher", kneel)


def test_edit_checks_compare_with_the_starting_pose(canonical_joints):
    standing, up = canonical_joints["standing"], canonical_joints["reaching up with both hands"]
    assert passes("both_hands_higher", up, start=standing) and not passes("both_hands_higher", standing, start=standing)
    assert passes("both_hands_lower & legs_kept", standing, start=up)
