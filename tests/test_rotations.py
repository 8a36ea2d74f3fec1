import math

import pytest
import roma
import torch

from posekit.body import rotations as R

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
    # weighted: all the weight on one gives it back, equal weights the plain mean
    first = R.mean_rotation(pair, weights=torch.tensor([[1.0] * 4, [0.0] * 4]))
    assert torch.allclose(first, pair[0], atol=1e-5)
    assert torch.allclose(R.mean_rotation(pair, weights=torch.full((2, 4), 3.0)), mean, atol=1e-5)
    assert torch.allclose(R.mean_rotation(pair, dim=-4, weights=torch.ones(2, 4)), mean, atol=1e-5)
    with pytest.raises(ValueError, match="one per rotation"):
        R.mean_rotation(pair, weights=torch.ones(2))
    with pytest.raises(ValueError):
        R.mean_rotation(torch.zeros(4, 3))


# --- validity at the public boundary (issue 15) -------------------------------------------------

import numpy as np  # noqa: E402
from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra.numpy import arrays  # noqa: E402

from posekit.body.model import load_body_model  # noqa: E402
from posekit.body.parameters import PoseFormatError  # noqa: E402

FINITE = st.floats(-10, 10, allow_nan=False, width=32)
ANY = st.floats(allow_nan=True, allow_infinity=True, width=32)


@pytest.mark.parametrize("bad, match", [
    (torch.zeros(2, 3, 3), "not a rotation matrix at index \\(0,\\)"),
    (2 * torch.eye(3).expand(2, 3, 3), "not a rotation matrix"),
    (torch.diag(torch.tensor([1.0, 1.0, -1.0]))[None], "det = -1"),  # a reflection
    (torch.full((1, 3, 3), float("nan")), "NaN/inf"),
])
def test_invalid_rotation_matrices_raise(bad, match):
    for fn in (R.rotmat_to_rotvec, R.rotmat_to_rot6d):
        with pytest.raises(R.RotationError, match=match):
            fn(bad)
    with pytest.raises(R.RotationError):
        R.geodesic_angle(bad, torch.eye(3).expand_as(bad))


@pytest.mark.parametrize("bad", [
    torch.zeros(1, 6),
    torch.tensor([[1.0, 0, 0, 2.0, 0, 0]]),  # parallel columns
    torch.tensor([[1.0, 0, 0, 0, 0, 0]]),  # a zero column
    torch.tensor([[float("inf"), 0, 0, 0, 1, 0]]),
])
def test_degenerate_6d_raises_instead_of_nan(bad):
    with pytest.raises(R.RotationError):
        R.rot6d_to_rotmat(bad)
    # the check is what stops it: without it Gram-Schmidt gives NaN or inf
    assert not torch.isfinite(R.rot6d_to_rotmat(bad, validate=False)).all()


def test_nan_rotvec_raises_and_validate_false_skips_the_check():
    bad = torch.tensor([[0.1, float("nan"), 0.0]])
    with pytest.raises(R.RotationError, match="NaN"):
        R.rotvec_to_rotmat(bad)
    assert torch.isnan(R.rotvec_to_rotmat(bad, validate=False)).any()


def test_body_model_refuses_matrices_that_are_not_rotations():
    body = load_body_model()
    rest = body(body_pose=torch.zeros(1, 23, 3), joints_only=True).joints
    doubled = 2 * torch.eye(3).expand(1, 23, 3, 3)
    with pytest.raises(PoseFormatError, match="body_pose is not a rotation matrix"):
        body(body_pose=doubled, joints_only=True)
    with pytest.raises(PoseFormatError, match="global_orient .*6D"):
        body(global_orient=torch.zeros(1, 6), joints_only=True)
    # what the check prevents: doubled "rotations" scale the bones
    scaled = body(body_pose=doubled, joints_only=True, validate=False).joints
    assert (scaled - scaled[:, :1]).norm(dim=-1).amax() > 1.5 * (rest - rest[:, :1]).norm(dim=-1).amax()


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 4), st.just(3)), elements=FINITE))
def test_property_rotvec_gives_valid_rotations(rotvec):
    rotmat = R.rotvec_to_rotmat(torch.from_numpy(rotvec))
    R.check_rotations(rotmat, "rotmat")  # always a rotation
    assert torch.allclose(R.rot6d_to_rotmat(R.rotmat_to_rot6d(rotmat)), rotmat, atol=1e-4)


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 3), st.just(6)), elements=ANY))
def test_property_6d_is_a_rotation_or_an_error(six):
    try:
        out = R.rot6d_to_rotmat(torch.from_numpy(six))
    except R.RotationError:
        return
    assert torch.isfinite(out).all()
    R.check_rotations(out.double(), "rotmat")


@settings(max_examples=100, deadline=None)
@given(arrays(np.float32, st.tuples(st.integers(1, 3), st.just(3), st.just(3)), elements=ANY))
def test_property_any_matrix_is_a_rotation_or_an_error(matrix):
    x = torch.from_numpy(matrix)
    try:
        out = R.rotmat_to_rotvec(x)
    except R.RotationError:
        return
    # accepted: it was a rotation, so the round trip returns it
    assert torch.allclose(R.rotvec_to_rotmat(out), x, atol=5e-2)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([(1, 23, 3), (1, 23, 3, 3), (1, 23, 6), (2, 23, 3), (23, 3), (1, 22, 3), (1, 23, 4)]),
       st.sampled_from(["ok", "nan", "inf", "scaled"]))
def test_property_body_inputs_are_checked(shape, fault):
    body = load_body_model()
    batch = shape[0] if len(shape) > 2 else 1
    x = R.rotvec_to_rotmat(torch.randn(batch, 23, 3) * 0.5, validate=False)
    if shape[-1] == 3 and shape[-2:] != (3, 3):
        x = R.rotmat_to_rotvec(x)
    elif shape[-1] == 6:
        x = R.rotmat_to_rot6d(x)
    valid = shape in [(1, 23, 3), (1, 23, 3, 3), (1, 23, 6), (2, 23, 3)]
    if not valid:
        x = torch.zeros(shape)
    if fault == "nan":
        x = x.clone().reshape(-1)
        x[0] = float("nan")
        x = x.reshape(shape if not valid else x.shape)
    elif fault == "inf":
        x = x.clone().reshape(-1)
        x[-1] = float("inf")
        x = x.reshape(shape if not valid else x.shape)
    elif fault == "scaled":
        x = x * 3.0
    scale_is_fine = fault == "scaled" and len(shape) == 3  # axis-angle (a larger angle) and 6D (scale-free)
    if valid and (fault == "ok" or scale_is_fine):
        out = body(body_pose=x.reshape(shape), joints_only=True)
        assert torch.isfinite(out.joints).all()
    else:
        with pytest.raises(PoseFormatError):
            body(body_pose=x, joints_only=True)
