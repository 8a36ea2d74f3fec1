import math
import pickle

import numpy as np
import pytest
import roma
import smplx
import torch
from conftest import tiny_model_dict

from posekit.body.model import BodyModel, load_body_model, read_model_file, resolve_body_file
from posekit.body.parameters import PoseFormatError, pose_from_degrees
from posekit.body.skeleton import JOINT_NAMES, MIRROR_PERMUTATION, NUM_JOINTS, PARENTS, joint_index

J = joint_index


def test_rest_height_is_human(body):
    verts = body().vertices[0]
    height = float(verts[:, 1].max() - verts[:, 1].min())
    assert 1.6 < height < 1.85
    # Taller with the first shape component, shorter against it.
    tall, short = body(betas=torch.tensor([[2.0], [-2.0]])).vertices[:, :, 1]
    assert float(tall.max() - tall.min()) > height + 0.05 > float(short.max() - short.min()) + 0.1


def test_rest_pose_is_a_symmetric_t_pose_facing_z(body):
    joints = body().joints[0]
    mirrored = joints[list(MIRROR_PERMUTATION)] * torch.tensor([-1.0, 1.0, 1.0])
    assert (mirrored - joints).abs().max() < 0.005
    assert torch.allclose(joints[J("pelvis")], torch.zeros(3), atol=1e-5)
    # Arms horizontal along +-x, head above the neck above the pelvis, feet below.
    for side, sign in (("left", 1), ("right", -1)):
        arm = joints[J(f"{side}_wrist")] - joints[J(f"{side}_shoulder")]
        assert sign * arm[0] > 0.4 and abs(arm[1]) < 0.03 and abs(arm[2]) < 0.03
        assert joints[J(f"{side}_ankle"), 1] < -0.7
    assert joints[J("head"), 1] > joints[J("neck"), 1] > joints[J("spine3"), 1] > 0
    # The toes point forward (+z) from the ankles: the body faces +z.
    assert (joints[J("left_foot"), 2] - joints[J("left_ankle"), 2]) > 0.05


def test_rotating_the_shoulder_swings_the_wrist_down_by_the_arm_length(body64):
    rest = body64().joints[0]
    go, bp = pose_from_degrees({"left_shoulder": (0, 0, -90)}, dtype=torch.float64)
    posed = body64(go, bp).joints[0]
    arm = rest[J("left_wrist")] - rest[J("left_shoulder")]
    expected = rest[J("left_shoulder")] + roma.rotvec_to_rotmat(torch.tensor([0, 0, -math.pi / 2], dtype=torch.float64)) @ arm
    assert torch.allclose(posed[J("left_wrist")], expected, atol=1e-9)
    drop = rest[J("left_wrist"), 1] - posed[J("left_wrist"), 1]
    assert drop == pytest.approx(float(arm.norm()), abs=0.03)
    # Nothing on the right side moved.
    assert torch.allclose(posed[J("right_wrist")], rest[J("right_wrist")])


def test_formats_agree_and_joints_only_equals_full(body):
    gen = torch.Generator().manual_seed(0)
    rotvec = torch.randn(3, 23, 3, generator=gen) * 0.4
    go = torch.randn(3, 3, generator=gen)
    betas = torch.randn(3, 10, generator=gen)
    full = body(go, rotvec, betas)
    as_mat = body(roma.rotvec_to_rotmat(go), roma.rotvec_to_rotmat(rotvec), betas)
    as_6d = body(roma.rotvec_to_rotmat(go)[..., :2].transpose(-1, -2).flatten(-2),
                 roma.rotvec_to_rotmat(rotvec)[..., :2].transpose(-1, -2).flatten(-2), betas)
    fast = body(go, rotvec, betas, joints_only=True)
    assert fast.vertices is None
    for other in (as_mat, as_6d, fast):
        assert torch.allclose(other.joints, full.joints, atol=1e-5)
    assert torch.allclose(as_6d.vertices, full.vertices, atol=1e-5)


def test_gradients_flow_to_every_input(body):
    go = torch.zeros(2, 3, requires_grad=True)
    bp = (torch.randn(2, 23, 3) * 0.2).requires_grad_()
    betas = torch.zeros(2, 10, requires_grad=True)
    out = body(go, bp, betas)
    (out.vertices[:, :, 1].mean() + out.joints.square().sum()).backward()
    for t in (go, bp, betas):
        assert t.grad is not None and torch.isfinite(t.grad).all() and t.grad.abs().sum() > 0


def test_translation_shifts_everything(body):
    transl = torch.tensor([[0.5, -1.0, 2.0]])
    moved, still = body(transl=transl), body()
    assert torch.allclose(moved.vertices, still.vertices + transl[:, None], atol=1e-6)
    assert torch.allclose(moved.joints, still.joints + transl[:, None], atol=1e-6)


def _smplx_from_dict(data, layer=False, num_betas=10, vertex_ids=None):
    cls = smplx.SMPLLayer if layer else smplx.SMPL
    struct = smplx.utils.Struct(**{k: v for k, v in data.items() if k != "posekit_meta"})
    return cls(model_path="", data_struct=struct, num_betas=num_betas, vertex_ids=vertex_ids)


@pytest.mark.parametrize("layer", [False, True])
def test_the_shipped_file_loads_in_smplx_with_identical_output(body, layer):
    data = read_model_file(resolve_body_file())
    ref = _smplx_from_dict(data, layer, vertex_ids=body.vertex_ids)
    gen = torch.Generator().manual_seed(3)
    go, bp = torch.randn(2, 3, generator=gen), torch.randn(2, 23, 3, generator=gen) * 0.4
    betas, transl = torch.randn(2, 10, generator=gen), torch.randn(2, 3, generator=gen)
    if layer:
        out = ref(global_orient=roma.rotvec_to_rotmat(go), body_pose=roma.rotvec_to_rotmat(bp), betas=betas, transl=transl)
    else:
        out = ref(global_orient=go, body_pose=bp.reshape(2, -1), betas=betas, transl=transl)
    ours = body(go, bp, betas, transl)
    assert torch.allclose(out.vertices, ours.vertices, atol=1e-5)
    assert torch.allclose(out.joints[:, :NUM_JOINTS], ours.joints, atol=1e-5)
    assert np.array_equal(ref.faces, ours.faces.numpy())
    # smplx's 21 extra keypoints are posekit's mesh landmarks: the nose is in front of the head.
    nose = out.joints[:, NUM_JOINTS]
    assert torch.allclose(nose, ours.vertices[:, body.vertex_ids["nose"]], atol=1e-5)


def test_pose_correctives_match_smplx_on_a_hand_built_model(tiny_dict):
    ours = BodyModel(tiny_dict, model_type="smpl", num_betas=4, dtype=torch.float64)
    assert ours.has_pose_correctives
    ref = _smplx_from_dict(tiny_dict, num_betas=4, vertex_ids=dict.fromkeys(smplx.vertex_ids.vertex_ids["smplh"], 0))
    ref = ref.double()
    gen = torch.Generator().manual_seed(5)
    go, bp = torch.randn(3, 3, generator=gen, dtype=torch.float64), torch.randn(3, 23, 3, generator=gen, dtype=torch.float64)
    betas = torch.randn(3, 4, generator=gen, dtype=torch.float64)
    out = ref(global_orient=go, body_pose=bp.reshape(3, -1), betas=betas)
    mine = ours(go, bp, betas)
    # smplx stores its buffers in float32 before .double(): agreement to ~1e-8 m; the
    # correctives themselves are ~1e-3 m here, so a wrong implementation shows.
    assert torch.allclose(out.vertices, mine.vertices, atol=1e-6)
    assert torch.allclose(out.joints[:, :NUM_JOINTS], mine.joints, atol=1e-6)
    no_correctives = {**tiny_dict, "posedirs": np.zeros_like(tiny_dict["posedirs"])}
    plain = BodyModel(no_correctives, model_type="smpl", num_betas=4, dtype=torch.float64)(go, bp, betas)
    assert (plain.vertices - mine.vertices).abs().max() > 1e-4


def test_pickled_model_files_read_like_npz(tmp_path, tiny_dict):
    with open(tmp_path / "SMPL_NEUTRAL.pkl", "wb") as fh:
        pickle.dump(tiny_dict, fh)
    np.savez(tmp_path / "copy.npz", **tiny_dict)
    from_pkl = load_body_model("smpl", path=tmp_path, num_betas=4, dtype=torch.float64)
    from_npz = BodyModel.from_file(tmp_path / "copy.npz", model_type="smpl", num_betas=4, dtype=torch.float64)
    bp = torch.randn(1, 23, 3, dtype=torch.float64)
    assert torch.allclose(from_pkl(body_pose=bp).vertices, from_npz(body_pose=bp).vertices)


def _smplh_like_dict():
    """A 52-joint SMPL-H layout: SMPL's first 22 joints plus 3-joint fingers on each wrist."""
    base = tiny_model_dict()
    parents = list(PARENTS[:22])
    for wrist in (20, 21):
        for _finger in range(5):  # index, middle, pinky, ring, thumb
            parents += [wrist, len(parents), len(parents) + 1]
    rng = np.random.default_rng(1)
    joints = np.zeros((52, 3))
    joints[:22] = base["v_template"][:22]
    for j in range(22, 52):
        joints[j] = joints[parents[j]] + rng.normal(scale=0.02, size=3)
    weights = np.eye(52)
    return {
        "v_template": joints, "shapedirs": np.zeros((52, 3, 10)), "posedirs": np.zeros((52, 3, 51 * 9)),
        "J_regressor": np.eye(52), "weights": weights, "f": np.array([[0, 1, 2]], dtype=np.uint32),
        "kintree_table": np.stack([np.array(parents) % 2**32, np.arange(52)]).astype(np.uint32),
    }


def test_smplh_layout_drives_finger_roots_with_the_hand_rotation(tmp_path):
    data = _smplh_like_dict()
    np.savez(tmp_path / "SMPLH_NEUTRAL.npz", **data)
    model = load_body_model("smplh", path=tmp_path, dtype=torch.float64)
    rest = model()
    assert rest.joints.shape == (1, 24, 3)
    assert torch.allclose(rest.joints[0, J("left_hand")], torch.as_tensor(data["v_template"][25]))
    go, bp = pose_from_degrees({"left_hand": (0, 0, 90)}, dtype=torch.float64)
    posed = model(go, bp)
    moved = (posed.vertices[0] - rest.vertices[0]).norm(dim=-1) > 1e-9
    # The four left finger chains swing about their roots (the roots stay, their children move);
    # the thumb, the body and the right hand stay.
    assert moved[22:34].tolist() == [False, True, True] * 4
    assert not moved[34:37].any() and not moved[:22].any() and not moved[37:].any()


def test_bad_inputs_name_the_argument_and_shape(body):
    with pytest.raises(PoseFormatError, match="body_pose"):
        body(body_pose=torch.zeros(23, 3))
    with pytest.raises(PoseFormatError, match="global_orient"):
        body(global_orient=torch.zeros(1, 4))
    with pytest.raises(PoseFormatError, match="betas"):
        body(betas=torch.zeros(1, 11))
    with pytest.raises(PoseFormatError, match="betas"):
        body(body_pose=torch.zeros(2, 23, 3), betas=torch.zeros(3, 10))
    with pytest.raises(PoseFormatError, match="transl"):
        body(body_pose=torch.zeros(2, 23, 3), transl=torch.zeros(3))
    with pytest.raises(PoseFormatError, match="NaN"):
        body(body_pose=torch.full((1, 23, 3), float("inf")))
    with pytest.raises(PoseFormatError, match="floating"):
        body(body_pose=torch.zeros(1, 23, 3, dtype=torch.long))


def test_missing_files_say_what_and_where(tmp_path, monkeypatch):
    with pytest.raises(FileNotFoundError, match=r"SMPL_NEUTRAL\.npz(.|\n)*" + str(tmp_path)):
        load_body_model("smpl", path=tmp_path)
    monkeypatch.setenv("POSEKIT_BODY_MODELS", str(tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"POSEKIT_BODY_MODELS(.|\n)*licence-gated"):
        load_body_model("smplx")
    with pytest.raises(FileNotFoundError, match="build-body"):
        load_body_model("posekit")
    with pytest.raises(ValueError, match="gender"):
        resolve_body_file("smpl", gender="other")


def test_environment_variable_points_at_user_files(tmp_path, monkeypatch, tiny_dict):
    (tmp_path / "smpl").mkdir()
    np.savez(tmp_path / "smpl" / "SMPL_FEMALE.npz", **tiny_dict)
    monkeypatch.setenv("POSEKIT_BODY_MODELS", str(tmp_path))
    model = load_body_model("smpl", gender="female", num_betas=4)
    assert model.source.endswith("SMPL_FEMALE.npz") and model.num_vertices == 48


def test_wrong_joint_count_is_rejected(tiny_dict):
    tiny_dict["kintree_table"] = tiny_dict["kintree_table"][:, :20]
    with pytest.raises(ValueError, match="24 joints"):
        BodyModel(tiny_dict, model_type="smpl", num_betas=4)
    with pytest.raises(ValueError, match="lacks"):
        BodyModel({"v_template": np.zeros((3, 3))})


def test_model_follows_dtype_and_reports_itself(body64):
    out = body64(body_pose=torch.zeros(1, 23, 3))
    assert out.vertices.dtype == torch.float64
    assert "posekit" in repr(body64) and body64.meta["name"] == "posekit-open-body"
    assert len(JOINT_NAMES) == body64.rest_joints().shape[1]


def test_a_model_file_with_nan_is_refused(tmp_path, tiny_dict):
    bad = dict(tiny_dict)
    bad["v_template"] = bad["v_template"].copy()
    bad["v_template"][0, 0] = np.nan
    np.savez(tmp_path / "bad.npz", **bad)
    with pytest.raises(ValueError, match=r"NaN or infinite values in \['v_template'\]"):
        BodyModel.from_file(tmp_path / "bad.npz")


def test_odd_inputs_get_one_line_answers_not_low_level_errors(body, tiny_dict):
    with pytest.raises(PoseFormatError, match="global_orient is a single number.*\\(B, 3\\)"):
        body(global_orient=torch.tensor(0.0))
    empty = body(body_pose=torch.zeros(0, 23, 3))  # an empty batch: no bodies
    assert empty.joints.shape == (0, NUM_JOINTS, 3) and empty.vertices.shape == (0, body.num_vertices, 3)
    assert body(body_pose=torch.zeros(0, 23, 3), joints_only=True).joints.shape == (0, NUM_JOINTS, 3)
    for key, cut in (("weights", np.s_[:-1]), ("shapedirs", np.s_[:-2]), ("J_regressor", np.s_[:, :-1])):
        broken = {**tiny_dict, key: tiny_dict[key][cut]}
        with pytest.raises(ValueError, match=f"{key} has shape .*must be .*different models or the file is damaged"):
            BodyModel(broken, num_betas=4)
    with pytest.raises(ValueError, match="f must be \\(F, 3\\) vertex indices"):
        BodyModel({**tiny_dict, "f": tiny_dict["f"] + len(tiny_dict["v_template"])}, num_betas=4)
