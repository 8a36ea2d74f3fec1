"""Requests in everyday words as training data: the records it builds, the held-out fifth, the
variants it keeps, the descriptions it leaves out."""
import torch

from posekit.corpus.library import canonical_poses
from posekit.datasets.plain import (
    HELD_SHARE,
    held_out,
    load_plain_requests,
    plain_records,
    pose_labels,
    pose_situations,
    source_pools,
    train_descriptions,
)
from posekit.datasets.records import POSE_TOKEN, Record


def test_plain_records_type_each_request_as_is_with_the_canonical_pose_first():
    pose = canonical_poses(["hands on hips"])["hands on hips"]
    variant = (pose + 0.05).tolist()
    records = plain_records({"hands on hips": [pose.tolist(), variant]}, "train", targets=2, seed=0)
    texts = load_plain_requests()["hands on hips"] + pose_situations()["hands on hips"]
    assert len(records) == 2 * len(texts)
    first = records[0]
    assert first.messages[1]["content"] == texts[0] and first.task == "text2pose" and first.meta["plain"] == "plain"
    assert torch.allclose(first.targets()[0], pose) and torch.allclose(records[1].targets()[0], torch.tensor(variant))
    assert {r.task for r in records} == {"text2pose", "spg"}  # situations train as spg


def test_the_held_fifth_and_the_kept_rest_split_every_pose_s_texts():
    pose = canonical_poses(["clapping"])["clapping"].tolist()
    kept = plain_records({"clapping": [pose]}, "train", targets=1, seed=3, part="kept")
    held = plain_records({"clapping": [pose]}, "val", targets=1, seed=3, part="held")
    every = plain_records({"clapping": [pose]}, "train", targets=1, seed=3)
    k, h = {r.messages[1]["content"] for r in kept}, {r.messages[1]["content"] for r in held}
    assert not k & h and k | h == {r.messages[1]["content"] for r in every}
    requests = load_plain_requests()["clapping"]
    assert held_out(requests, "clapping", 3) == held_out(requests, "clapping", 3)
    assert len(held_out(requests, "clapping", 3)) == max(1, round(HELD_SHARE * len(requests)))


def test_source_pools_keep_the_variants_nearest_the_canonical_pose():
    base = canonical_poses(["waving"])["waving"]

    def record(pose, kind):
        return Record(id="x", task="text2pose", split="train", messages=[{"role": "assistant", "content": POSE_TOKEN}],
                      target_poses=[pose.tolist()], meta={"source": "waving", "kind": kind})

    near, far = base + 0.02, base.clone()
    far[1:] = -far[1:]  # a far variant (as a mirrored one is)
    pools = source_pools([record(near, "perturbed"), record(far, "perturbed")], {"waving": base}, keep=0.5)
    assert len(pools["waving"]) == 2 and torch.allclose(torch.tensor(pools["waving"][1]), near)


def test_labels_leave_out_the_descriptions_a_training_split_does_not_use():
    spg = Record(id="s", task="spg", split="train", messages=[{"role": "assistant", "content": POSE_TOKEN}],
                 target_poses=[[[0.0] * 3] * 24], meta={"description": "only this one", "source": "clapping"})
    seen = train_descriptions([spg])
    assert seen == {"only this one"}
    everything = {t for t, _ in pose_labels(["clapping"])}
    kept = {t for t, _ in pose_labels(["clapping"], descriptions=seen)}
    assert kept < everything and not (set(pose_situations()["clapping"][:5]) & kept)  # the five spg descriptions
    assert train_descriptions([]) is None
