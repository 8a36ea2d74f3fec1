import math

import pytest
import roma
import torch

from posekit import rotations as R

DTYPES = [torch.float32, torch.float64]


@pytest.mark.parametrize("dtype", DTYPES)
def test_round_trips_over_batch_dims(dtype):
    gen = torch.Generator().manual_seed(0)
    rotvec = torch.randn(4, 5, 3, generator=gen, dtype=dtype)
    rotvec = rotvec / rotvec.norm(dim=-1, keepdim=True) * torch.rand(4, 5, 1, generator=gen, dtype=dtype) * 3.0
    rotmat = R.rotvec_to_rotmat(rotvec)
    tol = 1e-5 if dtype == torch.float32 else 1e-10
    assert torch.allclose(R.rotmat_to_rotvec(rotmat), rotvec, atol=tol * 10)
    assert torch.allclose(R.rot6d_to_rotmat(R.rotmat_to_rot6d(rotmat)), rotmat, atol=tol)
    assert torch.allclose(R.rot6d_to_rotvec(R.rotvec_to_rot6d(rotvec)), rotvec, atol=tol * 10)
    assert R.rotvec_to_rot6d(rotvec).dtype == dtype


def test_rot6d_layout_is_first_two_columns():
    rotmat = roma.random_rotmat(7)
    six = R.rotmat_to_rot6d(rotmat)
    assert torch.equal(six[:, :3], rotmat[:, :, 0])
    assert torch.equal(six[:, 3:], rotmat[:, :, 1])


def test_rot6d_decoding_orthonormalises_noisy_input():
    six = R.rotmat_to_rot6d(roma.random_rotmat(16)) + 0.1 * torch.randn(16, 6)
    rotmat = R.rot6d_to_rotmat(six)
    eye = torch.eye(3).expand(16, 3, 3)
    assert torch.allclose(rotmat.transpose(-1, -2) @ rotmat, eye, atol=1e-5)
    assert torch.allclose(torch.linalg.det(rotmat), torch.ones(16), atol=1e-5)
    # The first column keeps the direction of the first 3-vector (Gram-Schmidt).
    first = six[:, :3] / six[:, :3].norm(dim=-1, keepdim=True)
    assert torch.allclose(rotmat[:, :, 0], first, atol=1e-5)


def test_euler_single_axis_and_geodesic():
    rv = R.euler_to_rotvec(torch.tensor([0.0, 0.0, 90.0]))
    assert torch.allclose(rv, torch.tensor([0.0, 0.0, math.pi / 2]), atol=1e-6)
    a = R.rotvec_to_rotmat(torch.tensor([[0.0, 0.3, 0.0]], dtype=torch.float64))
    b = R.rotvec_to_rotmat(torch.tensor([[0.0, 1.1, 0.0]], dtype=torch.float64))
    assert R.geodesic_angle(a, b).item() == pytest.approx(0.8, abs=1e-9)
    # Accurate near pi, where acos alone loses precision.
    c = R.rotvec_to_rotmat(torch.tensor([[math.pi - 1e-6, 0.0, 0.0]], dtype=torch.float64))
    assert R.geodesic_angle(torch.eye(3, dtype=torch.float64)[None], c).item() == pytest.approx(math.pi - 1e-6, abs=1e-8)


@pytest.mark.parametrize("fn,bad", [
    (R.rotvec_to_rotmat, torch.zeros(2, 4)),
    (R.rot6d_to_rotmat, torch.zeros(2, 5)),
    (R.rotmat_to_rot6d, torch.zeros(2, 3, 2)),
    (R.rotvec_to_rotmat, torch.zeros(2, 3, dtype=torch.int64)),
])
def test_bad_shapes_and_dtypes_raise(fn, bad):
    with pytest.raises(ValueError):
        fn(bad)


def test_mean_rotation_is_a_rotation_and_symmetric():
    torch.manual_seed(0)
    base = roma.random_rotmat(4)  # (4, 3, 3)
    tilt = R.rotvec_to_rotmat(torch.tensor([[0.3, 0.0, 0.0], [-0.3, 0.0, 0.0]]))  # +-0.3 rad about x
    pair = torch.stack([base @ tilt[0], base @ tilt[1]])  # (2, 4, 3, 3)
    mean = R.mean_rotation(pair)
    assert torch.allclose(mean, base, atol=1e-5)  # symmetric tilts average back to the base
    assert torch.allclose(mean @ mean.transpose(-1, -2), torch.eye(3).expand(4, 3, 3), atol=1e-5)
    assert torch.allclose(torch.det(mean), torch.ones(4), atol=1e-5)
    assert R.mean_rotation(pair, dim=1).shape == (2, 3, 3)
    with pytest.raises(ValueError):
        R.mean_rotation(torch.zeros(4, 3))
