"""The chat's tools: descriptions and yes/no answers about a given pose computed from its
posecodes, true and without loops."""
import pytest
import torch

from posekit.chat.tools import describe_pose, is_description_request, nearest_canonical, yes_no_answer, yes_no_question
from posekit.corpus.library import canonical_poses
from posekit.language.consistency import contradictions, repeated_sentences


@pytest.fixture(scope="module")
def posed(body):
    poses = canonical_poses(["hands on hips", "reaching up with both hands", "kneeling upright", "standing"])
    stacked = torch.stack(list(poses.values()))
    out = body(stacked[:, 0], stacked[:, 1:])
    return {name: (out.joints[k], out.rotmats[k]) for k, name in enumerate(poses)}


@pytest.mark.parametrize("text, asks", [
    ("Describe this pose.", True), ("What is this person doing?", True), ("what's she doing", True),
    ("Can you describe the posture?", True), ("How is he standing?", True),
    ("Raise your left arm.", False), ("Show me someone kneeling.", False), ("Is the left hand above the head?", False),
])
def test_description_requests_are_told_from_other_requests(text, asks):
    assert is_description_request(text) == asks


def test_a_description_states_a_known_fact_names_the_pose_and_never_repeats_or_contradicts(posed, body):
    joints, rotmats = posed["reaching up with both hands"]
    text = describe_pose(joints, rotmats, body)
    assert text.startswith("It looks like reaching up with both hands")
    assert "above the head" in text  # both hands are
    assert not repeated_sentences(text) and not contradictions(text)
    assert nearest_canonical(joints, body)[:2] == ("reaching up with both hands", pytest.approx(0.0, abs=1e-4))


def test_a_pose_far_from_every_canonical_pose_gets_the_description_alone(posed, body):
    joints, rotmats = posed["standing"]
    odd = joints.clone()
    odd[20:] += torch.tensor([0.0, 0.8, 0.4])  # hands far from anything authored
    assert not describe_pose(odd, None, body).startswith("It looks like")


def test_yes_no_answers_come_from_the_pose(posed):
    up, hips, kneel = posed["reaching up with both hands"], posed["hands on hips"], posed["kneeling upright"]
    assert yes_no_answer("Is the left hand above the head?", *up).startswith("Yes")
    assert yes_no_answer("is the LEFT hand above the head", *hips).startswith("No")
    assert yes_no_answer("Is the person kneeling?", *kneel).startswith("Yes")
    assert yes_no_answer("Is the person kneeling?", *hips).startswith("No")
    assert yes_no_question("Is the left hand above the head?") is not None
    assert yes_no_answer("Is she happy?", *hips) is None


def test_the_chat_answers_a_description_with_the_tool_and_the_model_otherwise(posed):
    from posekit.chat import ChatSession

    session = ChatSession()
    pose = canonical_poses(["hands on hips"])["hands on hips"]
    reply = session.send("Describe this pose.", pose=pose)
    assert reply.tool == "captioner" and "hips" in reply.text and not reply.poses
    assert session.send("Is the left hand above the head?", pose=pose).text.startswith("No")
    assert session.send("Show me someone waving.").tool is None
    plain = ChatSession(model=session.model, tools=False).send("Describe this pose.", pose=pose)
    assert plain.tool is None
