import pytest
import torch

from posekit.corpus.splits import SplitConfig, build_pose_corpus, load_canonical, split_canonical
from posekit.corpus.variants import SamplerConfig
from posekit.language.posecodes import normalize_joints


@pytest.fixture(scope="module")
def corpus(body):
    return build_pose_corpus(body, seed=0, sampler=SamplerConfig(candidates_per_pose=16, keep_per_pose=6))


def test_splits_are_disjoint_by_canonical_pose_where_held_out(corpus):
    frame = corpus.to_frame()
    unseen = set(frame[frame.test_kind == "unseen pose"].source)
    assert unseen and not unseen & set(frame[frame.split == "train"].source)
    assert not set(frame[frame.split == "val"].source) & set(frame[frame.split == "train"].source)
    assert set(frame.split) == {"train", "val", "test"}
    # Interpolations never cross the canonical split.
    split_of = split_canonical(load_canonical(), SplitConfig(), seed=0)
    for source, partner in zip(frame.source, frame.partner):
        assert partner == "" or split_of[partner] == split_of[source]


def test_seen_test_variants_are_never_training_poses(corpus, body):
    joints = normalize_joints(body(corpus.poses.global_orient, corpus.poses.body_pose, joints_only=True).joints)
    train = corpus.index("train")
    for i in [i for i, k in enumerate(corpus.test_kind) if k == "seen pose"]:
        same = [t for t in train.tolist() if corpus.poses.source[t] == corpus.poses.source[i]]
        assert (joints[same] - joints[i]).norm(dim=-1).mean(-1).min() >= corpus.splits.min_test_distance


def test_split_is_stratified_and_seeded():
    entries = load_canonical()
    a, b = split_canonical(entries, seed=0), split_canonical(entries, seed=0)
    assert a == b and split_canonical(entries, seed=1) != a
    for category in {e.category for e in entries.values()}:
        names = [n for n, e in entries.items() if e.category == category]
        assert any(a[n] == "train" for n in names)
    with pytest.raises(ValueError):
        SplitConfig(unseen_test_share=0.7, val_share=0.4)


def test_corpus_is_deterministic(body, corpus):
    again = build_pose_corpus(body, seed=0, sampler=corpus.sampler)
    assert torch.equal(again.poses.pose, corpus.poses.pose) and again.split == corpus.split
