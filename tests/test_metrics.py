import math

import pytest
import roma
import torch

from posekit.evaluation import metrics as M


def test_mpjpe_is_pelvis_aligned_and_in_millimetres():
    target = torch.randn(2, 24, 3, dtype=torch.float64)
    pred = target + torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64)  # pure translation: no error
    assert torch.allclose(M.mpjpe(pred, target), torch.zeros(2, dtype=torch.float64), atol=1e-9)
    moved = target.clone()
    moved[:, 5] += torch.tensor([0.0, 0.022, 0.0], dtype=torch.float64)  # one of 22 joints off by 22 mm
    assert torch.allclose(M.mpjpe(moved, target), torch.full((2,), 1.0, dtype=torch.float64))
    moved[:, 23] += 5.0  # a hand joint: outside the 22 main joints
    assert torch.allclose(M.mpjpe(moved, target), torch.full((2,), 1.0, dtype=torch.float64))


def test_pa_mpjpe_removes_rotation_scale_translation():
    target = torch.randn(3, 24, 3, dtype=torch.float64)
    rotation = roma.random_rotmat(3, dtype=torch.float64)
    pred = 1.7 * target @ rotation.transpose(-1, -2) + torch.randn(3, 1, 3, dtype=torch.float64)
    assert torch.allclose(M.pa_mpjpe(pred, target), torch.zeros(3, dtype=torch.float64), atol=1e-6)
    assert (M.mpjpe(pred, target) > 100).all()  # but the plain MPJPE sees the difference
    noisy = target.clone()
    noisy[:, :22, 0] += 0.01
    assert M.pa_mpjpe(noisy, target).max() < 10.0


def test_mpjre_and_mpvpe():
    target = torch.zeros(2, 24, 3)
    pred = target.clone()
    pred[:, 4, 0] = math.radians(44.0)  # one joint rotated by 44 degrees
    assert torch.allclose(M.mpjre(pred, target), torch.full((2,), 2.0), atol=1e-3)
    verts = torch.randn(2, 10, 3)
    assert torch.allclose(M.mpvpe(verts + 0.01 + 1.0, verts + 1.0, torch.zeros(2, 3), torch.zeros(2, 3)),
                          torch.full((2,), math.sqrt(3) * 10.0), atol=1e-3)
    with pytest.raises(ValueError, match="mpjpe"):
        M.mpjpe(torch.zeros(2, 24, 3), torch.zeros(3, 24, 3))


def test_pose_spread_is_zero_for_a_constant_answer_and_measures_rotation():
    torch.manual_seed(0)
    one = torch.randn(1, 24, 3) * 0.3
    assert M.pose_spread(one.expand(5, -1, -1)).abs().max() < 1e-2  # one pose for every request
    bent = torch.zeros(2, 24, 3)
    bent[0, 1:22, 0], bent[1, 1:22, 0] = 0.2, -0.2  # every body joint 0.2 rad either side of rest
    assert torch.allclose(M.pose_spread(bent), torch.full((2,), 0.2 * 180 / torch.pi), atol=1e-2)
    turned = bent.clone()
    turned[:, 0] = torch.randn(2, 3)  # the global orientation is left out
    assert torch.allclose(M.pose_spread(turned), M.pose_spread(bent))
    varied = torch.randn(64, 24, 3) * 0.3
    assert M.pose_spread(varied).mean() > 5 * M.pose_spread(one.expand(64, -1, -1) + 1e-3 * varied).mean()
    with pytest.raises(ValueError, match=r"\(B, 24, 3\)"):
        M.pose_spread(torch.zeros(24, 3))


def test_recall_perfect_random_and_pool():
    emb = torch.eye(64)
    full = M.recall_at_k(emb, emb)
    assert full.text_to_pose[1] == 100.0 and full.mean_recall == 100.0
    shuffled = M.recall_at_k(emb, emb[torch.randperm(64, generator=torch.Generator().manual_seed(0))])
    assert shuffled.text_to_pose[10] < 40
    pool = M.recall_at_k(torch.randn(200, 16), torch.randn(200, 16), protocol="pool")
    assert pool.protocol == "pool of 32"
    assert abs(pool.text_to_pose[10] - 100 * 10 / 32) < 6  # chance level: K / pool size
    assert set(full.as_row()) == {"t2p_R@1", "t2p_R@5", "t2p_R@10", "p2t_R@1", "p2t_R@5", "p2t_R@10", "mRecall"}
    # A hand-computed case: texts 1 and 2 each prefer the other's pose -> R@1 = 1/3, R@2 = 1.
    text = torch.eye(3)
    pose = torch.tensor([[1.0, 0.0, 0.0], [0.0, 0.4, 0.9], [0.0, 0.9, 0.4]])
    assert M.recall_at_k(text, pose, ks=(1, 2)).text_to_pose == {1: pytest.approx(100 / 3), 2: 100.0}


def test_posecode_agreement(body):
    pose = torch.zeros(3, 23, 3)
    pose[1, 17, 2] = -1.4  # right shoulder raised: hand above the head
    out = body(body_pose=pose, joints_only=True)
    same = M.posecode_agreement(out.joints, out.joints, out.rotmats, out.rotmats)
    assert torch.allclose(same.f1, torch.ones(3))
    diff = M.posecode_agreement(out.joints[[0]], out.joints[[1]])
    assert diff.f1.item() < 0.95 and diff.recall.item() < 1.0


def test_paired_bootstrap_tells_a_shift_from_noise():
    from posekit.evaluation.metrics import paired_bootstrap

    gen = torch.Generator().manual_seed(3)
    base = torch.randn(400, generator=gen) * 20 + 100
    shifted = base - 5 + torch.randn(400, generator=gen)  # 5 mm better on every record, small noise
    d = paired_bootstrap(shifted, base)
    assert d.high < 0 and d.excludes_zero and d.low < d.mean < d.high
    assert abs(d.mean + 5) < 0.3
    noise = paired_bootstrap(base + torch.randn(400, generator=gen) * 10, base)
    assert not noise.excludes_zero  # pure noise: the interval straddles zero
    with pytest.raises(ValueError, match="equally long"):
        paired_bootstrap(torch.zeros(3), torch.zeros(4))
