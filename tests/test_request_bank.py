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
