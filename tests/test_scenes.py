import numpy as np
import pytest
import roma
import torch

from posekit.body.render import look_at
from posekit.corpus.scenes import build_scene, camera_frame_pose, make_queries, render_scene, resolve_query
from posekit.corpus.splits import load_canonical
from posekit.corpus.variants import entries_to_rotvec
from posekit.datasets import load_spg_descriptions

NAMES = ["about to catch a ball", "sitting on a chair", "tree pose", "celebrating with fists up"]


@pytest.fixture(scope="module")
def scene(body):
    entries, spg = load_canonical(), load_spg_descriptions()
    poses = entries_to_rotvec([entries[n] for n in NAMES])
    return build_scene(body, poses, NAMES, [entries[n].category for n in NAMES], [spg[n]["who"] for n in NAMES],
                       np.random.default_rng(0))


def test_people_stand_on_the_floor_and_are_all_in_view(scene):
    assert torch.allclose(scene.vertices[..., 1].amin(1), torch.zeros(4), atol=1e-4)
    result = render_scene(scene)
    visible = torch.bincount(result.instance[result.instance >= 0].flatten(), minlength=4)
    assert (visible > 50).all()
    uv = result.joints_2d.reshape(-1, 2)
    assert ((uv >= 0) & (uv < 224)).all()


def test_every_query_resolves_to_its_target_only(scene):
    spg = load_spg_descriptions()
    rng = np.random.default_rng(1)
    kinds = set()
    for target in range(4):
        queries = make_queries(scene, target, spg[NAMES[target]]["descriptions"], rng)
        assert queries, target
        for query in queries:
            assert resolve_query(scene, query.attributes) == [target]
            kinds.add(query.kind)
    assert {"action", "color", "situation"} <= kinds  # four categories: situations are unambiguous


def test_camera_frame_pose_is_identity_for_a_person_facing_the_camera():
    camera = look_at([0, 0, 0], 3.0, azimuth_deg=0, elevation_deg=0)
    pose = torch.zeros(24, 3)
    assert torch.allclose(camera_frame_pose(pose, camera)[0], torch.zeros(3), atol=1e-5)
    behind = look_at([0, 0, 0], 3.0, azimuth_deg=180, elevation_deg=0)
    angle = roma.rotvec_to_rotmat(camera_frame_pose(pose, behind)[0])
    assert torch.allclose(angle @ torch.tensor([0.0, 0.0, 1.0]), torch.tensor([0.0, 0.0, -1.0]), atol=1e-5)


def test_a_scene_of_one_person_gets_queries_and_no_crash(body):
    """A small corpus can leave an RPE scene with one person: it has no tallest or leftmost person."""
    entries = load_canonical()
    name = NAMES[1]
    alone = build_scene(body, entries_to_rotvec([entries[name]]), [name], [entries[name].category], ["sits"],
                        np.random.default_rng(0))
    queries = make_queries(alone, 0, [], np.random.default_rng(0))
    assert queries and {q.kind for q in queries} <= {"action", "color", "color+action"}
