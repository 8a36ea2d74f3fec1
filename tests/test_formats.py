import json
import math
import pickle

import numpy as np
import pytest
import roma
import torch

from posekit.corpus.formats import load_amass_npz, load_posescript_captions, load_posescript_index, load_smpl_params


def test_amass_smplh_file_becomes_y_up_smpl_poses(tmp_path, body):
    poses = np.zeros((5, 156), dtype=np.float32)
    poses[:, 0] = math.pi / 2  # AMASS z-up: an upright body has +90 deg about x
    poses[:, 3 * 4] = 1.0  # left knee (joint 4) bent
    poses[:, 66:] = 0.3  # finger joints: dropped
    np.savez(tmp_path / "walk_poses.npz", poses=poses, trans=np.zeros((5, 3)), betas=np.zeros(16),
             mocap_framerate=np.array(120.0), gender=np.array("neutral"))
    data = load_amass_npz(tmp_path / "walk_poses.npz", frames=slice(None, None, 2))
    assert data.pose.shape == (3, 24, 3) and data.betas.shape == (3, 16)
    assert torch.allclose(data.pose[:, 0], torch.zeros(3, 3), atol=1e-6)  # upright in y-up
    assert torch.allclose(data.pose[:, 4, 0], torch.ones(3)) and torch.count_nonzero(data.pose[:, 22:]) == 0
    assert data.meta["mocap_framerate"] == 120.0
    joints = body(data.global_orient, data.body_pose, joints_only=True).joints
    assert (joints[:, 15, 1] > joints[:, 0, 1]).all()  # head above pelvis


def test_amass_bad_files(tmp_path):
    np.savez(tmp_path / "bad.npz", poses=np.zeros((4, 100)))
    with pytest.raises(ValueError, match="156"):
        load_amass_npz(tmp_path / "bad.npz")
    np.savez(tmp_path / "nokey.npz", trans=np.zeros((4, 3)))
    with pytest.raises(ValueError, match="poses"):
        load_amass_npz(tmp_path / "nokey.npz")
    with pytest.raises(FileNotFoundError):
        load_amass_npz(tmp_path / "nope.npz")


@pytest.mark.parametrize("layout", ["flat", "rotmat", "hmr2"])
def test_smpl_param_files_in_every_layout(tmp_path, layout):
    rotvec = torch.randn(3, 23, 3) * 0.3
    go = torch.randn(3, 3) * 0.3
    if layout == "flat":
        data = {"global_orient": go.numpy(), "body_pose": rotvec.reshape(3, 69).numpy(), "betas": np.ones((3, 10))}
        path = tmp_path / "params.npz"
        np.savez(path, **data)
    else:
        data = {"global_orient": roma.rotvec_to_rotmat(go)[:, None].numpy(),
                "body_pose": roma.rotvec_to_rotmat(rotvec if layout == "rotmat" else rotvec[:, :21]).numpy(),
                "betas": np.ones((3, 10)), "transl": np.zeros((3, 3))}
        path = tmp_path / "params.pkl"
        path.write_bytes(pickle.dumps(data))
    params = load_smpl_params(path, allow_pickle=path.suffix == ".pkl")
    assert params.pose.shape == (3, 24, 3) and params.betas.shape == (3, 10)
    expected = rotvec if layout != "hmr2" else torch.cat([rotvec[:, :21], torch.zeros(3, 2, 3)], 1)
    assert torch.allclose(roma.rotvec_to_rotmat(params.body_pose), roma.rotvec_to_rotmat(expected), atol=1e-5)
    assert torch.allclose(roma.rotvec_to_rotmat(params.global_orient), roma.rotvec_to_rotmat(go), atol=1e-5)


def test_smpl_param_errors(tmp_path):
    np.savez(tmp_path / "a.npz", body_pose=np.zeros((2, 69)))
    with pytest.raises(ValueError, match="global_orient"):
        load_smpl_params(tmp_path / "a.npz")
    np.savez(tmp_path / "b.npz", body_pose=np.zeros((2, 50)), global_orient=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="body_pose"):
        load_smpl_params(tmp_path / "b.npz")


def test_posescript_files(tmp_path):
    (tmp_path / "posescript_human_6293.json").write_text(json.dumps({"12": "The person is kneeling.", "40": ["a", "b"]}))
    (tmp_path / "ids.json").write_text(json.dumps({"12": ["AMASS", "CMU/01/01_01_poses.npz", 30]}))
    captions = load_posescript_captions(tmp_path / "posescript_human_6293.json")
    assert captions == {"12": ["The person is kneeling."], "40": ["a", "b"]}
    assert load_posescript_index(tmp_path / "ids.json") == {"12": ("AMASS", "CMU/01/01_01_poses.npz", 30)}
    (tmp_path / "bad.json").write_text(json.dumps({"1": 3}))
    with pytest.raises(ValueError, match="string"):
        load_posescript_captions(tmp_path / "bad.json")


class _Planted:
    """An object whose unpickling creates a file: what a crafted data file would do."""

    def __init__(self, sentinel):
        self.sentinel = str(sentinel)

    def __reduce__(self):
        import os

        return (os.mkdir, (self.sentinel,))


def test_a_crafted_pickle_in_an_amass_file_never_runs(tmp_path):
    import numpy as np

    sentinel = tmp_path / "pwned"
    crafted = tmp_path / "motion.npz"
    np.savez(crafted, poses=np.zeros((2, 156), np.float32), gender=np.array([_Planted(sentinel)], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects"):
        load_amass_npz(crafted)
    assert not sentinel.exists()


def test_pickled_smpl_params_need_an_explicit_yes(tmp_path):
    path = tmp_path / "params.pkl"
    path.write_bytes(pickle.dumps({"global_orient": np.zeros((1, 3)), "body_pose": np.zeros((1, 69))}))
    with pytest.raises(ValueError, match="allow_pickle=True"):
        load_smpl_params(path)
    assert load_smpl_params(path, allow_pickle=True).pose.shape == (1, 24, 3)


def _amass(tmp_path, **arrays):
    data = {"poses": np.zeros((5, 156), np.float32), "betas": np.zeros(16, np.float32), **arrays}
    np.savez(tmp_path / "m.npz", **{k: v for k, v in data.items() if v is not None})
    return tmp_path / "m.npz"


@pytest.mark.parametrize("arrays, match", [
    ({"poses": np.where(np.arange(5 * 156).reshape(5, 156) == 3 * 156 + 7, np.nan, 0.0)}, "'poses' has NaN/inf .*row 3"),
    ({"trans": np.zeros((3, 3))}, "'trans' has shape \\(3, 3\\) but the poses have 5 rows"),
    ({"trans": np.full((5, 3), np.inf)}, "'trans' has NaN/inf"),
    ({"betas": np.zeros((2, 16))}, "'betas' has shape \\(2, 16\\)"),
    ({"betas": np.full(16, np.nan)}, "'betas' has NaN/inf"),
])
def test_amass_bad_values_name_file_key_and_row(tmp_path, arrays, match):
    path = _amass(tmp_path, **arrays)
    with pytest.raises(ValueError, match=match) as info:
        load_amass_npz(path)
    assert str(path) in str(info.value)


def test_amass_betas_per_frame_are_kept(tmp_path):
    betas = np.arange(5 * 16, dtype=np.float32).reshape(5, 16)
    params = load_amass_npz(_amass(tmp_path, betas=betas), frames=slice(1, 3))
    assert params.betas.shape == (2, 16) and params.betas[0, 0] == 16


@pytest.mark.parametrize("data, match", [
    ({"global_orient": np.zeros((2, 3)), "body_pose": np.full((2, 69), np.nan)}, "'body_pose' has NaN/inf .*row 0"),
    ({"global_orient": np.zeros((3, 3)), "body_pose": np.zeros((2, 69))}, "'global_orient' has shape \\(3, 3\\)"),
    ({"global_orient": np.zeros((2, 3)), "body_pose": np.zeros((2, 69)), "transl": np.zeros((1, 3))}, "'transl'"),
    ({"global_orient": np.zeros((2, 3)), "body_pose": np.zeros((2, 69)), "betas": np.zeros((2, 3, 10))}, "'betas'"),
    ({"global_orient": np.zeros((2, 3, 3)), "body_pose": np.zeros((2, 69))}, "not a rotation matrix"),
])
def test_smpl_param_bad_values(tmp_path, data, match):
    np.savez(tmp_path / "p.npz", **data)
    with pytest.raises(ValueError, match=match):
        load_smpl_params(tmp_path / "p.npz")


def test_truncated_and_misplaced_npz_files_say_what_they_are(tmp_path):
    path = _amass(tmp_path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(ValueError, match="truncated"):
        load_amass_npz(path)
    with pytest.raises(IsADirectoryError, match="folder"):
        load_amass_npz(tmp_path)
