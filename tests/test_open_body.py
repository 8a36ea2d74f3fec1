import json

import numpy as np
import pytest
import roma
import torch

from posekit.body import open_body as ob
from posekit.body.skeleton import JOINT_NAMES


def test_rotation_between_and_twist():
    a = torch.randn(8, 3, dtype=torch.float64)
    b = torch.randn(8, 3, dtype=torch.float64)
    rot = ob._rotation_between(a, b)
    mapped = (rot @ a[..., None]).squeeze(-1)
    assert torch.allclose(mapped / mapped.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True), atol=1e-10)
    # Smallest rotation: its axis is orthogonal to both vectors.
    axis = roma.rotmat_to_rotvec(rot)
    assert torch.allclose((axis * a).sum(-1), torch.zeros(8, dtype=torch.float64), atol=1e-9)
    x = torch.tensor([[1.0, 0.0, 0.0]], dtype=torch.float64)
    twist = ob._twist_about(x, torch.tensor([[0.3, 0.0, 1.0]], dtype=torch.float64),
                            torch.tensor([[0.0, -1.0, 0.0]], dtype=torch.float64))
    assert torch.allclose(twist @ x[0], x[0], atol=1e-12)  # the axis stays put
    assert torch.allclose(twist[0] @ torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64),
                          torch.tensor([0.0, -1.0, 0.0], dtype=torch.float64), atol=1e-12)


def test_regressor_recovers_a_known_linear_joint():
    gen = torch.Generator().manual_seed(0)
    verts = torch.randn(40, 30, 3, generator=gen, dtype=torch.float64)
    true_w = torch.zeros(30, dtype=torch.float64)
    true_w[[2, 5, 7]] = torch.tensor([0.5, 0.3, 0.2], dtype=torch.float64)
    joints = torch.einsum("v,nvk->nk", true_w, verts)[:, None]  # (N, 1, 3)
    reg = ob._fit_regressor(verts, joints, neighbours=30, ridge=1e-10)
    assert reg.shape == (1, 30)
    assert reg.sum().item() == pytest.approx(1.0, abs=1e-9)
    assert torch.allclose(torch.einsum("jv,nvk->njk", reg, verts), joints, atol=1e-6)


def test_every_smpl_joint_has_anchors_and_bones_map_to_real_joints():
    assert set(ob.JOINT_ANCHORS) == set(JOINT_NAMES)
    assert set(ob.BONE_TO_JOINT.values()) <= set(JOINT_NAMES)
    assert ob.bone_joint("toe3-2.L") == "left_foot"
    assert ob.bone_joint("finger1-3.R") == "right_hand"
    assert ob.bone_joint("metacarpal2.L") == "left_wrist"
    with pytest.raises(KeyError, match="BONE_TO_JOINT"):
        ob.bone_joint("tail")


def test_config_validates():
    with pytest.raises(ValueError, match="num_samples"):
        ob.OpenBodyConfig(num_samples=5)
    with pytest.raises(ValueError, match="min_age"):
        ob.OpenBodyConfig(min_age=50, max_age=30)


def test_shipped_file_records_its_build(body):
    meta = body.meta
    assert meta["config"] == json.loads(json.dumps(ob.OpenBodyConfig().__dict__))
    assert sum(meta["explained_variance"]) > 0.99
    assert meta["regressor_held_out_error_mm"]["max"] < 5.0
    assert not body.has_pose_correctives
    assert torch.allclose(body.lbs_weights.sum(1), torch.ones(body.num_vertices), atol=1e-5)


@pytest.mark.slow
def test_rebuild_reproduces_the_shipped_file(tmp_path, body):
    """Rebuilds from Anny (about 2 minutes and a 790 MB Anny cache the first time)."""
    pytest.importorskip("anny")
    from posekit.body.model import read_model_file, resolve_body_file

    built = ob.build_open_body(progress=False)
    shipped = read_model_file(resolve_body_file())
    for key in ("v_template", "shapedirs", "J_regressor", "weights"):
        assert np.allclose(built[key], shipped[key], atol=1e-5), key
    assert np.array_equal(built["f"], shipped["f"]) and np.array_equal(built["kintree_table"], shipped["kintree_table"])
