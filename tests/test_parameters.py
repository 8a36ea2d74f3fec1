import math

import pytest
import roma
import torch

from posekit.body.parameters import (
    PoseFormatError,
    full_pose_rotmats,
    mirror_rotvec,
    pose_from_degrees,
    remove_yaw,
    to_rotmats,
    yaw_angle,
)
from posekit.body.rotations import rotmat_to_rot6d
from posekit.body.skeleton import joint_index


def test_three_formats_give_the_same_rotations():
    rotvec = torch.randn(2, 23, 3) * 0.5
    rotmat = roma.rotvec_to_rotmat(rotvec)
    for form in (rotvec, rotmat, rotmat_to_rot6d(rotmat)):
        assert torch.allclose(to_rotmats(form, 23, "body_pose"), rotmat, atol=1e-5)
    full = full_pose_rotmats(torch.zeros(2, 3), rotvec)
    assert full.shape == (2, 24, 3, 3) and torch.allclose(full[:, 0], torch.eye(3).expand(2, 3, 3))


@pytest.mark.parametrize("bad", [torch.zeros(23, 3), torch.zeros(2, 69), torch.zeros(2, 22, 3), torch.zeros(2, 23, 4)])
def test_ambiguous_or_wrong_shapes_are_rejected(bad):
    with pytest.raises(PoseFormatError, match=r"\(B, 23, 3\)"):
        to_rotmats(bad, 23, "body_pose")


def test_nan_and_integer_poses_are_rejected():
    with pytest.raises(PoseFormatError, match="NaN"):
        to_rotmats(torch.full((1, 3), float("nan")), None, "global_orient")
    with pytest.raises(PoseFormatError, match="floating"):
        to_rotmats(torch.zeros(1, 3, dtype=torch.int32), None, "global_orient")
    with pytest.raises(PoseFormatError, match="batch sizes disagree"):
        full_pose_rotmats(torch.zeros(2, 3), torch.zeros(3, 23, 3))


def test_remove_yaw_keeps_tilt_and_faces_forward():
    tilt = roma.rotvec_to_rotmat(torch.tensor([[0.4, 0.0, 0.0]]))
    turn = roma.rotvec_to_rotmat(torch.tensor([[0.0, 1.2, 0.0]]))
    normalised = remove_yaw(turn @ tilt)
    assert torch.allclose(normalised, tilt, atol=1e-6)
    assert abs(yaw_angle(turn).item() - 1.2) < 1e-6
    rotvec = remove_yaw(torch.tensor([[0.0, 2.0, 0.0]]))
    assert rotvec.shape == (1, 3) and torch.allclose(rotvec, torch.zeros(1, 3), atol=1e-6)


def test_mirror_swaps_sides_and_is_an_involution():
    pose = torch.zeros(1, 24, 3)
    pose[0, joint_index("left_shoulder")] = torch.tensor([0.1, 0.2, -1.0])
    mirrored = mirror_rotvec(pose)
    assert torch.allclose(mirrored[0, joint_index("right_shoulder")], torch.tensor([0.1, -0.2, 1.0]))
    assert torch.allclose(mirror_rotvec(mirrored), pose)


def test_pose_from_degrees():
    go, bp = pose_from_degrees({"pelvis": (0, 90, 0), "left_knee": (45, 0, 0)})
    assert torch.allclose(go, torch.tensor([[0.0, math.pi / 2, 0.0]]), atol=1e-6)
    assert torch.allclose(bp[0, joint_index("left_knee") - 1], torch.tensor([math.pi / 4, 0.0, 0.0]), atol=1e-6)
    assert torch.count_nonzero(bp) == 1
    with pytest.raises(KeyError):
        pose_from_degrees({"left_kneee": (1, 2, 3)})
