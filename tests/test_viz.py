import plotly.graph_objects as go
import pytest
import torch

from posekit import viz
from posekit.body.skeleton import JOINT_NAMES


def test_plot_bodies_draws_every_batch_element_with_its_own_scene(body):
    out = body(body_pose=torch.randn(3, 23, 3) * 0.2)
    fig = viz.plot_bodies([out], titles=["a", "b", "c"], cols=2, skeleton=True)
    meshes = [t for t in fig.data if isinstance(t, go.Mesh3d) and t.name != "ground"]
    assert len(meshes) == 3 and {t.scene for t in meshes} == {"scene", "scene2", "scene3"}
    full = viz.mesh_trace(out.vertices[1], body.faces, simplify=None)
    assert len(full.x) == body.num_vertices and len(full.i) == body.faces.shape[0]
    assert len(meshes[1].x) < 0.7 * body.num_vertices  # shown simplified (viz.DISPLAY_CELL)
    assert fig.layout.scene2.camera.up.y == 1
    # Same scale everywhere: every scene spans the same range.
    spans = [fig.layout[f"scene{s}"].yaxis.range for s in ("", "2", "3")]
    assert len({round(r[1] - r[0], 6) for r in spans}) == 1


def test_skeleton_trace_connects_each_joint_to_its_parent(body):
    lines, markers = viz.skeleton_trace(body().joints[0])
    assert len(lines.x) == 3 * (len(JOINT_NAMES) - 1)
    assert list(markers.text) == list(JOINT_NAMES)


def test_bad_inputs(body):
    with pytest.raises(ValueError, match="titles"):
        viz.plot_bodies([body()], titles=["a", "b"])
    with pytest.raises(ValueError, match="joints_only"):
        viz.plot_bodies([body(joints_only=True)])
    with pytest.raises(ValueError, match="vertices"):
        viz.mesh_trace(torch.zeros(5, 2), torch.zeros(1, 3, dtype=torch.long))


def test_pose_editor_sliders_repose_the_body(body):
    editor = viz.PoseEditor(body)
    before = list(editor.figure.data[0].z)
    editor.joint.value = "left_elbow"
    editor.sliders[1].value = 90.0
    assert editor.body_pose[0, JOINT_NAMES.index("left_elbow") - 1, 1].item() == pytest.approx(1.5708, abs=1e-3)
    assert list(editor.figure.data[0].z) != before  # the forearm swings horizontally
    editor.reset.click()
    assert torch.count_nonzero(editor.body_pose) == 0 and editor.sliders[1].value == 0.0


def test_simplified_meshes_keep_the_shape_with_half_the_bytes(body):
    import numpy as np

    out = body(body_pose=torch.randn(1, 23, 3) * 0.3)
    verts, faces = out.vertices[0].numpy(), body.faces.numpy()
    v, f = viz.simplify_mesh(verts, faces, viz.DISPLAY_CELL)
    assert 0.3 * len(verts) < len(v) < 0.7 * len(verts) and 0.3 * len(faces) < len(f) < 0.7 * len(faces)
    assert f.min() >= 0 and f.max() < len(v) and (f[:, 0] != f[:, 1]).all() and (f[:, 1] != f[:, 2]).all()
    # every shown vertex lies within a grid cell of a body vertex, and every body vertex near a shown one
    def farthest(a, b) -> float:  # the largest distance from a point of a to its nearest point of b
        b = torch.from_numpy(np.asarray(b, dtype=np.float32))
        return max(float(torch.cdist(torch.from_numpy(np.asarray(c, dtype=np.float32)), b).min(1).values.max())
                   for c in np.array_split(a, 8))

    assert farthest(v, verts) < viz.DISPLAY_CELL * 3 ** 0.5
    assert farthest(verts, v) < viz.DISPLAY_CELL * 3 ** 0.5
    # the winding kept: the signed volume (divergence theorem) keeps its sign and size
    volume = lambda x, ff: np.einsum("ij,ij->i", x[ff[:, 0]], np.cross(x[ff[:, 1]], x[ff[:, 2]])).sum() / 6  # noqa: E731
    assert 0.9 < volume(v.astype(np.float64), f) / volume(verts.astype(np.float64), faces) < 1.1
    assert viz.simplify_mesh(verts, faces, 0.0001)[0].shape == verts.shape  # a fine grid keeps every vertex
