import roma
import torch

from posekit.body.lbs import blend_shapes, forward_kinematics, pose_features, skin, vertices_to_joints
from posekit.body.skeleton import NUM_JOINTS, PARENTS


def naive_fk(rotmats, rest):
    """Reference: one joint at a time, 4x4 homogeneous transforms."""
    batch = rotmats.shape[0]
    world = []
    for j, p in enumerate(PARENTS):
        local = torch.eye(4, dtype=rotmats.dtype).repeat(batch, 1, 1)
        local[:, :3, :3] = rotmats[:, j]
        local[:, :3, 3] = rest[:, j] - (rest[:, p] if p >= 0 else 0)
        world.append(local if p < 0 else world[p] @ local)
    world = torch.stack(world, 1)
    return world[:, :, :3, 3], world[:, :, :3, :3]


def test_level_batched_fk_matches_naive_chain():
    gen = torch.Generator().manual_seed(1)
    rot = roma.random_rotmat((3, NUM_JOINTS), dtype=torch.float64)
    rest = torch.randn(3, NUM_JOINTS, 3, generator=gen, dtype=torch.float64)
    joints, world_rot, rel_trans = forward_kinematics(rot, rest, PARENTS)
    ref_joints, ref_rot = naive_fk(rot, rest)
    assert torch.allclose(joints, ref_joints, atol=1e-12)
    assert torch.allclose(world_rot, ref_rot, atol=1e-12)
    # A point at a joint's rest location moves to that joint's posed location.
    moved = (world_rot @ rest[..., None]).squeeze(-1) + rel_trans
    assert torch.allclose(moved, joints, atol=1e-12)


def test_identity_pose_is_the_rest_pose():
    rest = torch.randn(1, NUM_JOINTS, 3, dtype=torch.float64)
    rot = torch.eye(3, dtype=torch.float64).expand(2, NUM_JOINTS, 3, 3)
    joints, _, rel_trans = forward_kinematics(rot, rest, PARENTS)
    assert torch.allclose(joints, rest.expand(2, -1, -1))
    assert torch.allclose(rel_trans, torch.zeros_like(rel_trans), atol=1e-6)
    verts = torch.randn(2, 10, 3, dtype=torch.float64)
    weights = torch.softmax(torch.randn(10, NUM_JOINTS, dtype=torch.float64), -1)
    _, world_rot, rel_trans = forward_kinematics(rot, rest, PARENTS)
    assert torch.allclose(skin(verts, weights, world_rot, rel_trans), verts, atol=1e-6)


def test_skin_with_one_hot_weights_is_rigid():
    rot = roma.random_rotmat((1, NUM_JOINTS))
    rest = torch.randn(1, NUM_JOINTS, 3)
    _, world_rot, rel_trans = forward_kinematics(rot, rest, PARENTS)
    verts = torch.randn(1, 5, 3)
    weights = torch.zeros(5, NUM_JOINTS)
    weights[:, 7] = 1.0
    expected = verts[0] @ world_rot[0, 7].T + rel_trans[0, 7]
    assert torch.allclose(skin(verts, weights, world_rot, rel_trans)[0], expected, atol=1e-5)


def test_blend_shapes_regressor_and_pose_features():
    shapedirs = torch.randn(6, 3, 2)
    betas = torch.tensor([[1.0, 0.0], [0.0, -2.0]])
    out = blend_shapes(betas, shapedirs)
    assert torch.allclose(out[0], shapedirs[..., 0]) and torch.allclose(out[1], -2 * shapedirs[..., 1])
    reg = torch.zeros(2, 6)
    reg[0, :2] = 0.5
    reg[1, 5] = 1.0
    verts = torch.randn(1, 6, 3)
    j = vertices_to_joints(reg, verts)
    assert torch.allclose(j[0, 0], verts[0, :2].mean(0)) and torch.allclose(j[0, 1], verts[0, 5])
    assert torch.count_nonzero(pose_features(torch.eye(3).expand(2, NUM_JOINTS, 3, 3))) == 0
    assert pose_features(roma.random_rotmat((2, NUM_JOINTS))).shape == (2, 207)
