import re

import pytest

from posekit.language.paircodes import InstructionConfig, instruct, paircodes

from posefixtures import posed


def pair(body, a, b):
    ja, ra = posed(body, [a])
    jb, rb = posed(body, [b])
    return ja, jb, ra, rb


def test_raising_the_left_arm(body):
    text = instruct(*pair(body, "arms down", "left arm up"), seed=None)[0]
    assert re.search(r"(raise|lift) your left arm above your head", text, re.I), text
    assert "right" not in text
    for seed in range(5):  # every wording says it
        assert re.search(r"(raise|lift) your left arm", instruct(*pair(body, "arms down", "left arm up"), seed=seed)[0], re.I)


def test_the_reverse_instruction_lowers_it(body):
    text = instruct(*pair(body, "left arm up", "arms down"), seed=None)[0]
    assert re.search(r"lower your left (arm|hand)", text, re.I), text


def test_whole_body_changes(body):
    assert "kneel" in instruct(*pair(body, "arms down", "kneeling"), seed=None)[0].lower()
    assert "turn around" in instruct(*pair(body, "arms down", "turned around"), seed=None)[0].lower()
    assert "lean forward" in instruct(*pair(body, "arms down", "leaning forward"), seed=None)[0].lower()
    assert instruct(*pair(body, "arms down", "arms down"), seed=None)[0] == "Keep the same pose."


def test_the_part_that_moved_is_the_subject(body):
    text = instruct(*pair(body, "arms down", "right knee raised"), seed=None)[0]
    assert "bend your right knee" in text.lower()
    assert "lower your left foot" not in text.lower()  # the left leg did not move: it is no subject


def test_paircodes_are_typed_and_ranked(body):
    changes = paircodes(*pair(body, "arms down", "left arm up"))[0]
    names = [c.name for c in changes]
    assert "position_y:left_hand-head" in names
    assert all(c.before != c.after for c in changes)
    motions = [c.motion for c in changes if c.kind not in ("super", "turn")]
    assert motions == sorted(motions, reverse=True)


def test_seeded_and_capped(body):
    args = pair(body, "rest", "sitting")
    assert instruct(*args, seed=1) == instruct(*args, seed=1)
    short = instruct(*args, seed=None, config=InstructionConfig(max_changes=1))[0]
    assert short.count(",") == 0 and " and " not in short
    with pytest.raises(ValueError, match="same shape"):
        instruct(args[0], args[1][:, :22])
