import pytest

from posekit.body import skeleton as S


def test_tree_is_smpl():
    assert len(S.JOINT_NAMES) == len(S.PARENTS) == S.NUM_JOINTS == 24
    assert S.PARENTS[S.joint_index("left_wrist")] == S.joint_index("left_elbow")
    assert S.PARENTS[S.joint_index("head")] == S.joint_index("neck")
    assert all(p < j for j, p in enumerate(S.PARENTS))
    assert S.POSE_6D_DIM == 144 and S.MAIN_JOINTS == tuple(range(22))


def test_mirror_permutation_is_an_involution_that_swaps_sides():
    perm = S.MIRROR_PERMUTATION
    assert all(perm[perm[j]] == j for j in range(S.NUM_JOINTS))
    assert S.JOINT_NAMES[perm[S.joint_index("left_knee")]] == "right_knee"
    assert perm[S.joint_index("spine2")] == S.joint_index("spine2")


def test_levels_cover_every_joint_once_with_parents_one_level_up():
    levels = S.kinematic_levels()
    depth = {j: d for d, level in enumerate(levels) for j in level}
    assert sorted(depth) == list(range(S.NUM_JOINTS))
    assert all(depth[j] == depth[p] + 1 for j, p in enumerate(S.PARENTS) if p >= 0)
    with pytest.raises(ValueError):
        S.kinematic_levels((-1, 2, 0))


def test_unknown_joint_name_lists_valid_names():
    with pytest.raises(KeyError, match="left_wrist"):
        S.joint_index("left_wirst")
