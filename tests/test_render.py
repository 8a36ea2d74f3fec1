import pytest
import torch

from posekit.body.render import look_at, make_background, rasterize, render
from posekit.body.skeleton import joint_index
from posekit.corpus.library import library_params, load_pose_library


@pytest.fixture(scope="module")
def waving(body):
    return body(*library_params(["waving"], load_pose_library("canonical")))


def test_projected_joints_land_on_the_rendered_body(body, waving):
    camera = look_at([0, 0, 0], 2.6, fov_deg=45)
    result = render([waving.vertices[0]], body.faces, camera, [(0.7, 0.7, 0.7)], joints=[waving.joints[0]])
    assert result.image.shape == (224, 224, 3) and result.image.dtype == torch.uint8
    silhouette = result.instance >= 0
    assert 2000 < silhouette.sum() < 20000
    inside = 0
    for u, v in result.joints_2d[0].round().long().tolist():
        patch = silhouette[max(v - 2, 0):v + 3, max(u - 2, 0):u + 3]
        inside += bool(patch.any())
    assert inside == 24  # every joint projects onto (or within 2 px of) the silhouette
    # Facing the camera, the body's left hand appears on the image's right; the raised hand is high.
    lw, rw = result.joints_2d[0, joint_index("left_wrist")], result.joints_2d[0, joint_index("right_wrist")]
    assert lw[0] > 112 > rw[0]
    assert rw[1] < result.joints_2d[0, joint_index("head"), 1]


def test_nearer_body_occludes_and_instances_are_labelled(body, waving):
    verts = waving.vertices[0]
    camera = look_at([0, 0, 0], 3.0, fov_deg=45)
    near = verts + torch.tensor([0.0, 0.0, 0.5])
    result = render([verts, near], body.faces, camera, [(1.0, 0.0, 0.0), (0.0, 0.0, 1.0)])
    counts = torch.bincount(result.instance[result.instance >= 0].flatten(), minlength=2)
    assert counts[1] > 0 and counts[1] > counts[0]  # the nearer copy covers most of the other
    blue = result.instance == 1
    assert (result.image[blue][:, 2] > result.image[blue][:, 0]).all()


def test_camera_and_rasteriser_basics():
    camera = look_at([0, 0, 0], 2.0, fov_deg=60, width=64, height=48)
    uv, depth = camera.project(torch.tensor([[0.0, 0.0, 0.0], [0.0, 0.5, 0.0]]))
    assert torch.allclose(uv[0], torch.tensor([32.0, 24.0]), atol=1e-4) and abs(depth[0] - 2.0) < 1e-5
    assert uv[1, 1] < uv[0, 1]  # world up is image up
    # One triangle covering the left half of a 4x4 image.
    tri_uv = torch.tensor([[0.0, 0.0], [2.0, 0.0], [0.0, 4.0], [2.0, 4.0]])
    faces = torch.tensor([[0, 1, 2], [1, 3, 2]])
    index, zbuf = rasterize(tri_uv, torch.ones(4), faces, 4, 4)
    assert (index[:, :2] >= 0).all() and (index[:, 2:] == -1).all()
    assert torch.isinf(zbuf[:, 2:]).all()


@pytest.mark.parametrize("kind", ["solid", "gradient", "noise", "floor"])
def test_backgrounds(kind):
    bg = make_background(kind, 32, 24, torch.Generator().manual_seed(0))
    assert bg.shape == (24, 32, 3) and bg.min() >= 0 and bg.max() <= 1
    again = make_background(kind, 32, 24, torch.Generator().manual_seed(0))
    assert torch.equal(bg, again)


def test_bad_render_calls(body, waving):
    camera = look_at([0, 0, 0], 2.6)
    with pytest.raises(ValueError, match="colours"):
        render([waving.vertices[0]], body.faces, camera, [])
    with pytest.raises(ValueError, match="background kind"):
        make_background("stripes", 8, 8)
