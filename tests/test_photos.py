"""The photo path (posekit.photos): landmarks offline, a body fit that recovers known poses, whatever the
proportions, one body per person, a clear answer when there is no one."""
import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

from posekit.body.skeleton import NUM_JOINTS
from posekit.corpus.library import canonical_poses
from posekit.evaluation.metrics import pa_mpjpe
from posekit.photos import (
    NoPersonError,
    bone_vectors,
    find_people,
    fit_people,
    person_from_joints,
    photo_path_available,
)

pytestmark = pytest.mark.skipif(not photo_path_available(), reason="MediaPipe is not installed (make env installs it)")


def _varied_poses(count: int = 8, seed: int = 0) -> torch.Tensor:
    """Canonical poses with every body joint moved by up to ~0.25 rad and turned about y: poses the
    fit's start (the canonical library) does not hold."""
    library = canonical_poses()
    names = sorted(library)[::max(1, len(library) // count)][:count]
    poses = torch.stack([library[n] for n in names]).clone()
    gen = torch.Generator().manual_seed(seed)
    poses[:, 1:] += (torch.rand(count, NUM_JOINTS - 1, 3, generator=gen) - 0.5) * 0.5
    poses[:, 0] = torch.tensor([0.0, 1.0, 0.0]) * (torch.rand(count, 1, generator=gen) - 0.5) * 2.0  # yaw +-1 rad
    return poses


def _bone_angles(joints_a: torch.Tensor, joints_b: torch.Tensor) -> torch.Tensor:
    """Angles (degrees) between the fit's bones on two sets of joints ``(B, 24, 3)``."""
    a, b = (torch.nn.functional.normalize(bone_vectors(j), dim=-1) for j in (joints_a, joints_b))
    return torch.rad2deg(torch.acos((a * b).sum(-1).clamp(-1, 1)))


def test_the_fit_recovers_known_poses_from_their_own_landmarks(body):
    poses = _varied_poses()
    joints = body(poses[:, 0], poses[:, 1:], joints_only=True).joints
    fit = fit_people([person_from_joints(j) for j in joints], body)
    angles = _bone_angles(fit.joints, joints)
    assert float(angles.median()) < 3.0 and float(angles.max()) < 25.0, angles.max(1).values
    assert float(pa_mpjpe(fit.joints, joints).mean()) < 25.0  # mm
    assert float(fit.reprojection.max()) < 2.0  # percent of the height
    assert bool(fit.plausible.all())
    again = fit_people([person_from_joints(j) for j in joints], body)
    assert torch.equal(again.pose, fit.pose)  # deterministic


def test_other_body_proportions_give_the_same_fitted_pose(body):
    poses = _varied_poses(6, seed=1)
    mean_shape = body(poses[:, 0], poses[:, 1:], joints_only=True).joints
    betas = torch.tensor([[2.0, -1.5, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0]]).expand(len(poses), -1)
    other = body(poses[:, 0], poses[:, 1:], betas=betas, joints_only=True).joints
    assert float(pa_mpjpe(other, mean_shape).mean()) > 10.0  # the proportions do differ
    a = fit_people([person_from_joints(j) for j in mean_shape], body)
    b = fit_people([person_from_joints(j) for j in other], body)
    assert float(pa_mpjpe(b.joints, a.joints).mean()) < 10.0  # both fitted on the same body: the same pose


def test_a_photo_without_a_person_is_said_so(tmp_path):
    gen = np.random.default_rng(0)
    noise = tmp_path / "noise.png"
    Image.fromarray(gen.integers(0, 255, (240, 320, 3), dtype=np.uint8)).save(noise)
    with pytest.raises(NoPersonError, match="no person found in .*noise.png: the photo path needs a person"):
        find_people(noise)
    with pytest.raises(NoPersonError, match="no person found in the photo"):
        find_people(np.full((200, 200, 3), 128, dtype=np.uint8))


def test_each_person_in_a_photo_gets_a_body_and_nothing_is_downloaded(tiny_dataset, monkeypatch):
    import socket

    from posekit.photos import landmarks

    def refuse(*args, **kwargs):
        raise OSError("the network is unreachable in this test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(landmarks, "_MODEL", None)  # loaded again, from the installed package only
    folder = tiny_dataset[0] / "images" / "image2pose"
    one, two = (np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.iterdir())[:2])
    people = find_people(np.concatenate([one, two], axis=1))  # two people side by side
    assert len(people) == 2
    assert sorted(p.box[0] < one.shape[1] for p in people) == [False, True]  # one on each half
    alone = find_people(one)
    assert len(alone) == 1
    fit = fit_people(people)
    assert fit.pose.shape == (2, NUM_JOINTS, 3) and float(fit.reprojection.max()) < 12.0


@pytest.mark.parametrize("field", ["visibility", "image_xy", "world"])
def test_landmarks_with_nan_are_refused_naming_the_field(body, field):
    """A NaN visibility came out as a finite pose called plausible; NaN landmarks blamed global_orient."""
    joints = body(torch.zeros(1, 3), torch.zeros(1, 23, 3), joints_only=True).joints[0]
    person = person_from_joints(joints)
    broken = getattr(person, field).astype(np.float64).copy()
    broken[5] = np.nan
    with pytest.raises(ValueError, match=f"person 0: {field} holds NaN or infinite values \\(landmark 5\\)"):
        fit_people([dataclasses.replace(person, **{field: broken})], body)
