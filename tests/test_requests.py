import pytest
import torch

from posekit.corpus.library import library_params, load_pose_library
from posekit.evaluation.requests import PLAIN_REQUEST_CHECKS, joint_angle, knee_angle, measure, torso_lean


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
