"""Body parts: every joint in one part, and a composed pose keeps each part's joint angles."""
import pytest
import torch

from posekit.body.parts import BODY_PARTS, PART_JOINTS, compose_pose, part_mask, part_of_joint
from posekit.body.skeleton import NUM_JOINTS
from posekit.corpus.library import canonical_poses
from posekit.evaluation.requests import elbow_angle, knee_angle, passes


def test_the_parts_cover_every_joint_once():
    joints = sorted(i for part in BODY_PARTS for i in PART_JOINTS[part])
    assert joints == list(range(NUM_JOINTS))
    assert part_of_joint("left_elbow") == "left_arm" and part_of_joint("pelvis") == "posture"
    assert int(part_mask(["head"]).sum()) == 2
    with pytest.raises(ValueError, match="unknown body part"):
        part_mask(["tail"])
    with pytest.raises(KeyError, match="unknown joint"):
        part_of_joint("tail")


def test_a_composed_pose_takes_each_part_from_its_donor_and_keeps_its_angles(body):
    poses = canonical_poses(["squatting", "victory arms in a V", "hands on hips"])
    composed = compose_pose(poses["squatting"], {"left_arm": poses["victory arms in a V"],
                                                 "right_arm": poses["hands on hips"]})
    assert torch.equal(composed[list(PART_JOINTS["left_leg"])], poses["squatting"][list(PART_JOINTS["left_leg"])])
    assert torch.equal(composed[list(PART_JOINTS["left_arm"])], poses["victory arms in a V"][list(PART_JOINTS["left_arm"])])
    stacked = torch.stack([composed, poses["squatting"], poses["hands on hips"]])
    joints = body(stacked[:, 0], stacked[:, 1:], joints_only=True).joints
    assert abs(knee_angle(joints[0], "left") - knee_angle(joints[1], "left")) < 1e-3  # the squat's knees
    assert abs(elbow_angle(joints[0], "right") - elbow_angle(joints[2], "right")) < 1e-3  # the akimbo elbow
    assert passes("squat & left_hand_up", joints[0]) and not passes("left_hand_up", joints[1])
    assert not torch.equal(composed, poses["squatting"])  # a new tensor, the base untouched
    with pytest.raises(ValueError, match="axis-angle"):
        compose_pose(torch.zeros(23, 3), {})
