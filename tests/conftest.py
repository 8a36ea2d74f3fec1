import numpy as np
import pytest
import torch

from posekit.body.skeleton import NUM_JOINTS, PARENTS


def pytest_addoption(parser):
    parser.addoption("--run-slow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--run-slow"):
        return
    skip = pytest.mark.skip(reason="slow: pass --run-slow (or `make test-slow`)")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _seed():
    """Every test starts from the same global RNG state, so random inputs are reproducible."""
    torch.manual_seed(0)
    np.random.seed(0)


@pytest.fixture(scope="session")
def body():
    from posekit.body.model import load_body_model

    return load_body_model()


@pytest.fixture(scope="session")
def body64():
    from posekit.body.model import load_body_model

    return load_body_model(dtype=torch.float64)


def tiny_model_dict(num_betas: int = 4, seed: int = 0) -> dict[str, np.ndarray]:
    """A hand-built 24-joint SMPL-layout model: one vertex per joint plus one per bone midpoint."""
    rng = np.random.default_rng(seed)
    joints = np.zeros((NUM_JOINTS, 3))
    for j, p in enumerate(PARENTS):
        if p >= 0:
            joints[j] = joints[p] + rng.normal(scale=0.1, size=3)
    verts = np.concatenate([joints, joints + rng.normal(scale=0.02, size=joints.shape)])
    num_verts = len(verts)
    weights = np.zeros((num_verts, NUM_JOINTS))
    weights[np.arange(NUM_JOINTS), np.arange(NUM_JOINTS)] = 1.0
    weights[NUM_JOINTS + np.arange(NUM_JOINTS), np.arange(NUM_JOINTS)] = 0.7
    weights[NUM_JOINTS + np.arange(1, NUM_JOINTS), np.array(PARENTS[1:])] += 0.3
    weights[NUM_JOINTS, 0] = 1.0
    regressor = np.zeros((NUM_JOINTS, num_verts))
    regressor[np.arange(NUM_JOINTS), np.arange(NUM_JOINTS)] = 1.0
    return {
        "v_template": verts,
        "shapedirs": rng.normal(scale=0.01, size=(num_verts, 3, num_betas)),
        "posedirs": rng.normal(scale=0.001, size=(num_verts, 3, 207)),
        "J_regressor": regressor,
        "kintree_table": np.stack([np.array(PARENTS) % 2**32, np.arange(NUM_JOINTS)]).astype(np.uint32),
        "weights": weights,
        "f": np.array([[0, 1, 2], [1, 2, 3]], dtype=np.uint32),
    }


@pytest.fixture
def tiny_dict():
    return tiny_model_dict()


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory, body):
    """A tiny task dataset built once per test session: (folder, manifest, config)."""
    import dataclasses

    from posekit.corpus.variants import SamplerConfig
    from posekit.datasets import DatasetConfig, build_dataset

    config = dataclasses.replace(DatasetConfig.quick(name="tiny"), scale=0.03,
                                 sampler=SamplerConfig(candidates_per_pose=8, keep_per_pose=3))
    root = tmp_path_factory.mktemp("tiny_dataset")
    return root, build_dataset(config, out_dir=root, body=body, progress=False), config
