"""The plain-request test bank: big enough, held apart from every training phrasing, and checks
that a body can pass and the wrong body fails."""
import pytest
import torch

from posekit.corpus.library import canonical_poses
from posekit.datasets.plain import load_plain_requests, normalise_request, pose_labels, pose_situations
from posekit.datasets.records import INSTRUCTION_REQUESTS, SPG_REQUESTS, TEXT2POSE_REQUESTS
from posekit.evaluation.request_bank import BANK_KINDS, bank_summary, load_request_bank, score_answers
from posekit.evaluation.requests import passes


@pytest.fixture(scope="module")
def bank():
    return load_request_bank()


@pytest.fixture(scope="module")
def joints(body):
    poses = canonical_poses()
    stacked = torch.stack(list(poses.values()))
    return dict(zip(poses, body(stacked[:, 0], stacked[:, 1:], joints_only=True).joints))


def test_the_bank_has_at_least_200_requests_of_each_kind(bank):
    counts = {kind: sum(r.kind == kind for r in bank) for kind in BANK_KINDS}
    assert sum(counts.values()) >= 200 and counts["explicit"] >= 100 and counts["situations"] >= 70 and counts["edits"] >= 25
    assert len({normalise_request(r.text) for r in bank if r.kind != "edits"}) == counts["explicit"] + counts["situations"]


def test_training_phrasings_and_the_bank_share_no_request(bank):
    training = [t for texts in load_plain_requests().values() for t in texts]
    training += [t for texts in pose_situations().values() for t in texts]
    training += [label for label, _ in pose_labels()]
    training += [t.format(text="").strip() for t in (*TEXT2POSE_REQUESTS, *INSTRUCTION_REQUESTS, *SPG_REQUESTS)]
    seen = {normalise_request(t) for t in training}
    shared = [r.text for r in bank if normalise_request(r.text) in seen]
    assert not shared, f"bank requests also in the training data: {shared}"


def test_every_check_can_pass_and_standing_fails_it_unless_asked_to_stand(bank, joints):
    standing = joints["standing"]
    for request in bank:
        if request.kind == "edits":
            start = joints[request.start]
            assert not passes(request.check, start, start=start), f"{request.text!r}: the unchanged pose passes"
            assert any(passes(request.check, j, start=start) for j in joints.values()), request.text
            continue
        assert any(passes(request.check, j) for j in joints.values()), f"no canonical pose passes {request.check!r}"
        if "upright & legs_straight" not in request.check and request.check != "stride":
            assert not passes(request.check, standing), f"{request.text!r}: standing still passes {request.check!r}"


def test_scores_and_summary_count_passes_and_no_pose_as_a_miss(bank, joints):
    part = [r for r in bank if r.kind == "explicit"][:4]
    answers = torch.stack([joints["reaching up with both hands"]] * 4)
    table = score_answers(part, answers, found=[True, True, True, False])
    assert list(table.passed) == [True, True, True, False]  # the first three ask for both hands up
    summary = bank_summary({"a": table, "b": table.assign(passed=False)}, reference="b")
    row = summary[summary.model == "a"].iloc[0]
    assert row["pass rate (%)"] == 75.0 and row["vs b (points)"] == 75.0


def test_plain_data_has_twelve_requests_and_fifteen_situations_per_pose():
    plain, situations = load_plain_requests(), pose_situations()
    assert set(plain) == set(canonical_poses()) == set(situations)
    assert min(len(v) for v in plain.values()) >= 12 and min(len(v) for v in situations.values()) >= 15


@pytest.fixture(scope="module")
def composition():
    from posekit.evaluation.request_bank import load_composition_bank

    return load_composition_bank()


@pytest.fixture(scope="module")
def candidate_joints(body):
    """Canonical poses and, for each, its arms taken from a few arm poses (one arm or both): bodies
    that can pass a composed request's check."""
    from posekit.body.parts import compose_pose

    poses = canonical_poses()
    stacked = torch.stack(list(poses.values()))
    out = [stacked]
    for donor in ("victory arms in a V", "hands on hips", "arms crossed", "carrying a box", "warrior II", "clapping",
                  "pointing forward", "pointing to the side", "waving", "surrendering with hands up", "standing",
                  "talking on the phone", "hands behind the head"):
        for parts in (("left_arm", "right_arm"), ("left_arm",), ("right_arm",)):
            out.append(compose_pose(stacked, {p: poses[donor].expand_as(stacked) for p in parts}))
    both = torch.cat(out)
    with torch.no_grad():
        return body(both[:, 0], both[:, 1:], joints_only=True).joints


def test_the_composition_bank_has_at_least_200_requests_and_30_of_each_kind(composition):
    from posekit.evaluation.request_bank import COMPOSITION_KINDS

    counts = {kind: sum(r.kind == kind for r in composition) for kind in COMPOSITION_KINDS}
    assert sum(counts.values()) >= 200 and min(counts.values()) >= 30, counts
    chains = {r.conversation for r in composition if r.kind == "chained"}
    assert len(chains) >= 30 and all(sum(r.conversation == c for r in composition) == 3 for c in chains)
    single = [r for r in composition if r.kind != "chained"]
    assert len({normalise_request(r.text) for r in single}) == len(single)


def test_the_composition_bank_shares_no_request_with_training_text_or_the_plain_bank(composition, bank):
    training = [t for texts in load_plain_requests().values() for t in texts]
    training += [t for texts in pose_situations().values() for t in texts]
    training += [label for label, _ in pose_labels()]
    training += [t.format(text="").strip() for t in (*TEXT2POSE_REQUESTS, *INSTRUCTION_REQUESTS, *SPG_REQUESTS)]
    training += [r.text for r in bank]
    seen = {normalise_request(t) for t in training}
    shared = [r.text for r in composition if normalise_request(r.text) in seen]
    assert not shared, f"composition requests also in the training data or the plain bank: {shared}"


def test_every_composition_check_can_pass_and_standing_fails_it_unless_asked_to_stand(composition, candidate_joints,
                                                                                         joints, body):
    from posekit.evaluation.request_bank import start_pose

    standing = joints["standing"]
    for request in composition:
        if request.kind == "chained":
            if request.turn == 0:  # the start itself must not already pass the first turn
                pose = start_pose(request)
                start = body(pose[None, 0], pose[None, 1:], joints_only=True).joints[0]
                assert not passes(request.check, start, start=start), request.text
                assert any(passes(request.check, j, start=start) for j in candidate_joints), request.text
            continue
        assert any(passes(request.check, j) for j in candidate_joints), f"no body passes {request.check!r}"
        if "standing_up" not in request.check and "feet_together" not in request.check:
            assert not passes(request.check, standing), f"{request.text!r}: standing passes {request.check!r}"


def test_a_chained_turn_is_checked_against_the_answer_before_it(composition, body):
    from posekit.evaluation.request_bank import answer_bank

    chain = [r for r in composition if r.kind == "chained" and r.conversation == 0]
    poses = canonical_poses(["standing", "squatting"])
    seen = []

    def answer(text, start, new_conversation):
        seen.append((start is None, new_conversation))
        return poses["standing"]  # every turn: stand up straight with the arms down

    table, _ = answer_bank(chain, answer, body)
    assert seen == [(False, True), (False, False), (False, False)]
    # turn 1 (lower the left arm, keep the right) fails: standing also drops the right arm; turn 2 (lower
    # the right arm) is checked against standing, where it is already down: it fails; so does turn 3 (stand up)
    assert list(table.passed) == [False, False, False]


def test_an_answer_without_a_pose_is_a_miss_and_the_chain_goes_on_from_its_start(composition, body):
    from posekit.evaluation.request_bank import answer_bank

    chain = [r for r in composition if r.kind == "chained" and r.conversation == 0]
    starts = []

    def answer(text, start, new_conversation):
        starts.append(start)
        return None  # the model wrote no <POSE>

    table, _ = answer_bank(chain, answer, body)
    assert list(table.passed) == [False, False, False]
    assert all(torch.equal(s, starts[0]) for s in starts)  # no answer: the next turn starts where this one did
