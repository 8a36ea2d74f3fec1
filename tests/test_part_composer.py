"""The part composer: clauses set the joints they speak of, over the decoder's answer or an edit's
given pose; negated clauses set nothing; it saves, loads and trains."""
import pytest
import torch

from posekit.body.parts import PART_JOINTS
from posekit.corpus.library import canonical_poses
from posekit.models.part_composer import PartComposer, PartComposerConfig, number_features, train_part_composer


def test_number_features_read_the_first_number_and_right_angles():
    features = number_features(["bend the elbow to 90 degrees", "a right angle", "raise it"])
    assert features[0].tolist() == [0.5, 1.0, 0.0]
    assert features[1].tolist() == [0.0, 0.0, 1.0] and features[2].tolist() == [0.0, 0.0, 0.0]


class FixedClauses(PartComposer):
    """A composer whose clause readings are given: ``{clause: (joint indices, pose)}``."""

    def __init__(self, readings):
        super().__init__(PartComposerConfig())
        self.readings = readings

    def clauses(self, texts):
        sets = torch.zeros(len(texts), 24)
        poses = torch.zeros(len(texts), 24, 3)
        for k, text in enumerate(texts):
            joints, pose = self.readings[text]
            sets[k, list(joints)] = 1.0
            poses[k] = pose
        return sets, poses


@pytest.fixture(scope="module")
def poses():
    return canonical_poses(["standing", "squatting", "victory arms in a V", "kneeling on one knee"])


def test_each_clause_sets_its_joints_in_order_and_the_rest_stays(poses):
    arms = PART_JOINTS["left_arm"] + PART_JOINTS["right_arm"]
    legs = PART_JOINTS["posture"] + PART_JOINTS["left_leg"] + PART_JOINTS["right_leg"] + PART_JOINTS["torso"]
    composer = FixedClauses({"squat down": (legs, poses["squatting"]),
                             "both arms up": (arms, poses["victory arms in a V"]),
                             "don't lift your arms": (arms, poses["victory arms in a V"])})
    base = poses["standing"]
    out = composer.compose(["squat down with both arms up", "squat down, don't lift your arms"],
                           torch.stack([base, base]))
    assert torch.equal(out[0, list(legs)], poses["squatting"][list(legs)])
    assert torch.equal(out[0, list(arms)], poses["victory arms in a V"][list(arms)])
    assert torch.equal(out[0, list(PART_JOINTS["head"])], base[list(PART_JOINTS["head"])])  # no clause sets it
    assert torch.equal(out[1, list(arms)], base[list(arms)])  # what not to do sets nothing


def test_unasked_joints_come_from_the_decoder_or_from_standing(poses):
    """``unasked``: where a request that sets no posture or leg takes the rest of the body (design Q3)."""
    import dataclasses

    arms = PART_JOINTS["left_arm"] + PART_JOINTS["right_arm"]
    composer = FixedClauses({"both arms up": (arms, poses["victory arms in a V"]),
                             "squat down": (PART_JOINTS["posture"] + PART_JOINTS["left_leg"], poses["squatting"])})
    base = poses["kneeling on one knee"]  # what the decoder answered
    kept = composer.compose(["both arms up"], base[None])[0]
    assert torch.equal(kept[0], base[0]) and torch.equal(kept[list(arms)], poses["victory arms in a V"][list(arms)])
    composer.config = dataclasses.replace(composer.config, unasked="rest")
    standing = composer.compose(["both arms up", "squat down with both arms up"], torch.stack([base, base]))
    legs = list(PART_JOINTS["right_leg"])
    assert torch.allclose(standing[0, legs], poses["standing"][legs], atol=1e-5)  # the unasked legs stand
    assert torch.equal(standing[0, list(arms)], poses["victory arms in a V"][list(arms)])
    assert torch.equal(standing[1, legs], base[legs])  # a request that sets a leg keeps the decoder's other leg
    edited = composer.compose_where(["both arms up"], base[None], edits=[True])[0][0]
    assert torch.equal(edited[legs], base[legs])  # an edit keeps its given pose
    with pytest.raises(ValueError, match="unasked must be one of"):
        PartComposerConfig(unasked="zero")


def test_a_single_whole_body_clause_is_left_to_the_decoder_but_sets_an_edit(poses):
    everything = tuple(range(24))
    composer = FixedClauses({"kneel on one knee": (everything, poses["kneeling on one knee"])})
    base = poses["squatting"]
    out, acted = composer.compose_where(["kneel on one knee"] * 2, torch.stack([base, base]), edits=[False, True])
    assert torch.equal(out[0], base) and acted == [False, True]
    assert torch.equal(out[1], poses["kneeling on one knee"])


def test_a_request_of_many_clauses_is_left_to_the_decoder(poses):
    arms = PART_JOINTS["left_arm"] + PART_JOINTS["right_arm"]
    composer = FixedClauses({f"lift arm {k} up": (arms, poses["victory arms in a V"]) for k in range(5)})
    base = poses["standing"]
    texts = [", ".join(f"lift arm {k} up" for k in range(n)) for n in (3, 4)]
    out, acted = composer.compose_where(texts, torch.stack([base, base]))
    assert acted == [True, False] and torch.equal(out[1], base)  # a caption of many sentences: the decoder's


@pytest.fixture(scope="module")
def trained(body):
    config = PartComposerConfig(epochs=3, phrases=300, hidden=64, seed=3)
    return train_part_composer(body, ["standing", "hands on hips", "squatting", "reaching up with both hands"], config)


def test_a_trained_composer_round_trips(trained, tmp_path):
    path = trained.save(tmp_path / "composer.pt", {"poses": "test"})
    loaded = PartComposer.load(path)
    texts = ["raise your left arm above your head", "squat down"]
    sets, proposals = trained.clauses(texts)
    again_sets, again = loaded.clauses(texts)
    assert torch.allclose(sets, again_sets) and torch.allclose(proposals, again)
    assert len(loaded.memory_keys) >= 300 and torch.equal(loaded.memory_sides, trained.memory_sides)


def test_a_recalled_entry_of_the_other_side_comes_mirrored(poses):
    from posekit.body.parameters import mirror_rotvec
    from posekit.encoders.text import get_text_encoder

    composer = PartComposer(PartComposerConfig())
    left_up = poses["victory arms in a V"].clone()
    left_up[list(PART_JOINTS["right_arm"])] = poses["standing"][list(PART_JOINTS["right_arm"])]
    composer.set_memory(get_text_encoder().encode(["raise your left arm"]), torch.zeros(1, 3), left_up[None])
    composer.set_memory_sides(torch.tensor([1]))
    query = get_text_encoder().encode(["raise your right arm"])
    same = composer.recall(query, torch.zeros(1, 3), torch.tensor([1]))
    other = composer.recall(query, torch.zeros(1, 3), torch.tensor([-1]))
    assert torch.allclose(same[0], left_up, atol=2e-3)  # float16 memory
    assert torch.allclose(other[0], mirror_rotvec(left_up[None])[0], atol=2e-3)


def test_a_composer_file_from_elsewhere_is_refused(tmp_path):
    path = tmp_path / "other.pt"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(ValueError, match="not a part composer file"):
        PartComposer.load(path)
    with pytest.raises(ValueError, match="threshold"):
        PartComposerConfig(threshold=1.5)
