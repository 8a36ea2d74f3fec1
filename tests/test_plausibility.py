import math

import pytest
import torch

from posekit.body.plausibility import check_plausible, feet_support, load_joint_limits, self_intersection
from posekit.body.skeleton import joint_index
from posekit.corpus.splits import load_canonical
from posekit.corpus.variants import entries_to_rotvec


@pytest.fixture(scope="module")
def canonical(body):
    entries = load_canonical()
    pose = entries_to_rotvec(list(entries.values()))
    joints = body(pose[:, 0], pose[:, 1:], joints_only=True).joints
    standing = torch.tensor([e.support in ("feet", "one foot") for e in entries.values()])
    return entries, pose, joints, standing


def test_every_canonical_pose_is_plausible(canonical):
    entries, pose, joints, standing = canonical
    assert len(entries) >= 150
    report = check_plausible(pose, joints, standing)
    bad = [name for name, ok in zip(entries, report.ok) if not ok]
    assert not bad, f"implausible canonical poses: {bad}"


def test_corpus_covers_the_requested_actions(canonical):
    names = " | ".join(canonical[0])
    for word in ("walking", "sitting on a chair", "cross-legged", "lying", "kneeling", "crouching", "reaching up",
                 "pointing", "waving", "phone", "carrying", "running", "jumping", "throwing", "kicking",
                 "goalkeeper dive", "tennis serve", "boxing guard", "skiing tuck", "swimming", "cycling", "tree pose",
                 "warrior I", "warrior II", "downward dog", "cobra", "lotus", "plank", "bridge", "celebrating",
                 "shrugging", "despair", "thinking", "hands on hips", "arms crossed"):
        assert word in names, word
    assert {e.category for e in canonical[0].values()} >= {"daily", "sport", "yoga", "dance", "gesture", "emotion"}


def test_joint_limits_catch_a_backward_knee_and_mirror_sides():
    limits = load_joint_limits()
    pose = torch.zeros(2, 24, 3)
    pose[0, joint_index("left_knee"), 0] = math.radians(-40)  # knee bent backwards
    assert limits.inside(pose).tolist() == [False, True]
    assert "left_knee x" in limits.describe(pose)[0]
    left, right = joint_index("left_elbow"), joint_index("right_elbow")
    assert torch.allclose(limits.low[right, 1], -limits.high[left, 1])
    assert torch.allclose(limits.low[right, 0], limits.low[left, 0])
    clamped = limits.clamp(pose)
    assert limits.inside(clamped).all()


def test_self_intersection_flags_a_leg_through_the_other(body):
    pose = torch.zeros(2, 24, 3)
    pose[1, joint_index("left_hip"), 2] = math.radians(-35)  # left thigh swung across the right one
    pose[1, joint_index("right_hip"), 2] = math.radians(20)
    joints = body(pose[:, 0], pose[:, 1:], joints_only=True).joints
    ok, worst = self_intersection(joints)
    assert ok.tolist() == [True, False]
    assert worst[0] > worst[1]


def test_support_requires_standing_poses_to_stand_on_their_feet(body):
    pose = torch.zeros(2, 24, 3)
    pose[1, 0, 0] = math.radians(-90)  # lying on the back: the lowest point is the back of the body
    joints = body(pose[:, 0], pose[:, 1:], joints_only=True).joints
    assert feet_support(joints).tolist() == [True, False]
    report = check_plausible(pose, joints, standing=torch.tensor([True, False]))
    assert report.ok.tolist() == [True, True]  # a lying pose is not asked to stand
