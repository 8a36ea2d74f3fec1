import json

import pytest
import torch

from posekit.corpus.library import library_params, load_pose_library


def test_classic_library_loads_and_poses(body):
    library = load_pose_library()
    assert {"arms down", "sitting", "kneeling", "waving"} <= set(library)
    go, bp = library_params(["sitting", "waving"], library)
    assert go.shape == (2, 3) and bp.shape == (2, 23, 3)
    joints = body(go, bp, joints_only=True).joints
    assert torch.isfinite(joints).all()


def test_bad_library_files_are_reported(tmp_path):
    (tmp_path / "bad.json").write_text(json.dumps({"p": {"left_kneee": [0, 0, 0]}}))
    with pytest.raises(ValueError, match="left_kneee"):
        load_pose_library(path=tmp_path / "bad.json")
    (tmp_path / "short.json").write_text(json.dumps({"p": {"left_knee": [0, 0]}}))
    with pytest.raises(ValueError, match="3 angles"):
        load_pose_library(path=tmp_path / "short.json")
    with pytest.raises(KeyError, match="available"):
        library_params(["no such pose"])
    with pytest.raises(FileNotFoundError):
        load_pose_library("nope")
