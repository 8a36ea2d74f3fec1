import pytest
import torch

from posekit.body.plausibility import check_plausible, load_joint_limits
from posekit.corpus.splits import load_canonical
from posekit.corpus.variants import SamplerConfig, farthest_point_sampling, sample_variants

SMALL = SamplerConfig(candidates_per_pose=24, keep_per_pose=6)


@pytest.fixture(scope="module")
def entries():
    all_entries = load_canonical()
    names = ["walking", "sitting on a chair", "tree pose", "kneeling upright", "running", "waving"]
    return {n: all_entries[n] for n in names}


@pytest.fixture(scope="module")
def variants(entries, body):
    return sample_variants(entries, body, SMALL, seed=3)


def test_variants_are_plausible_and_within_limits(variants, entries, body):
    assert len(variants) == len(entries) * SMALL.keep_per_pose
    joints = body(variants.global_orient, variants.body_pose, joints_only=True).joints
    standing = torch.tensor([entries[s].support in ("feet", "one foot") for s in variants.source])
    assert check_plausible(variants.pose, joints, standing).ok.all()
    assert load_joint_limits().inside(variants.pose).all()


def test_variants_differ_from_their_source_but_stay_close(variants, body):
    joints = body(variants.global_orient, variants.body_pose, joints_only=True).joints
    from posekit.language.posecodes import normalize_joints

    joints = normalize_joints(joints)
    for name in dict.fromkeys(variants.source):
        rows = [i for i, s in enumerate(variants.source) if s == name]
        assert variants.kind[rows[0]] == "canonical"
        dist = (joints[rows[1:]] - joints[rows[0]]).norm(dim=-1).mean(-1)
        assert (dist > 0.005).all() and dist.median() < 0.25, name


def test_same_seed_same_poses_other_seed_other_poses(entries, body, variants):
    again = sample_variants(entries, body, SMALL, seed=3)
    assert torch.equal(again.pose, variants.pose) and again.source == variants.source
    other = sample_variants(entries, body, SMALL, seed=4)
    assert not torch.allclose(other.pose, variants.pose)
    # An entry's variants do not depend on the order of the entries.
    reordered = sample_variants(dict(reversed(list(entries.items()))), body, SMALL, seed=3)
    for name in entries:
        mine = [i for i, s in enumerate(variants.source) if s == name]
        theirs = [i for i, s in enumerate(reordered.source) if s == name]
        assert torch.equal(reordered.pose[theirs], variants.pose[mine])


def test_mirroring_and_interpolation_happen(entries, body):
    config = SamplerConfig(candidates_per_pose=40, keep_per_pose=12, mirror_probability=0.5, interpolation_share=0.5)
    poses = sample_variants(entries, body, config, seed=0)
    assert poses.mirrored.any() and "interpolated" in poses.kind
    assert all(p == "" or entries[p].support == entries[s].support for s, p in zip(poses.source, poses.partner))


def test_farthest_point_sampling_spreads_out():
    points = torch.cat([torch.zeros(50, 2), torch.tensor([[10.0, 0.0], [0.0, 10.0]])])
    chosen = farthest_point_sampling(points, 3, torch.Generator().manual_seed(0)).tolist()
    assert {50, 51} <= set(chosen)
    assert farthest_point_sampling(points, 100).tolist() == list(range(52))


def test_config_validates():
    with pytest.raises(ValueError, match="keep_per_pose"):
        SamplerConfig(candidates_per_pose=4, keep_per_pose=8)
    with pytest.raises(ValueError, match="mirror_probability"):
        SamplerConfig(mirror_probability=2.0)
