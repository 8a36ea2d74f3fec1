"""A request in clauses and the body parts each clause names."""
from posekit.language.clauses import clause_parts, split_clauses


def test_a_request_is_cut_at_its_joiners():
    assert split_clauses("Squat down with both arms stretched out in front.") == ["Squat down",
                                                                                  "both arms stretched out in front"]
    assert split_clauses("left arm up, right arm down by your side") == ["left arm up", "right arm down by your side"]
    assert split_clauses("do a cartwheel") == ["do a cartwheel"]
    assert split_clauses("  ") == [""]


def test_each_clause_names_its_parts():
    assert clause_parts("raise your left hand") == ("left_arm",)
    assert clause_parts("right arm out to the side") == ("right_arm",)
    assert clause_parts("both arms up") == ("left_arm", "right_arm")
    assert clause_parts("sit on the floor") == ("posture", "left_leg", "right_leg", "torso")
    assert clause_parts("lift your right knee") == ("right_leg",)
    assert clause_parts("feet together") == ("left_leg", "right_leg")
    assert clause_parts("lean forward") == ("torso",)
    assert clause_parts("nod your head") == ("head",)
    assert clause_parts("do a cartwheel") == ()


def test_bare_phrases_stay_with_their_clause_and_joiners_are_dropped():
    from posekit.language.clauses import split_clauses

    assert split_clauses("point straight ahead at shoulder height with your right arm") == [
        "point straight ahead at shoulder height with your right arm"]
    assert split_clauses("bend forward until your chest is level with the floor") == [
        "bend forward until your chest is level with the floor"]
    assert split_clauses("squat down with both arms up") == ["squat down", "both arms up"]
    assert split_clauses("sit down, but don't cross your legs") == ["sit down", "don't cross your legs"]


def test_negation_and_sides_are_read():
    from posekit.language.clauses import clause_side, is_negated

    assert is_negated("don't cross your legs") and is_negated("without bending the knees")
    assert not is_negated("cross your legs")
    assert clause_side("raise your left arm") == 1 and clause_side("right knee up") == -1
    assert clause_side("both arms up") == 0 and clause_side("left arm up, right arm down") == 0
