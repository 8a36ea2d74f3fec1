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
    assert clause_parts("sit on the floor") == ("legs", "torso")
    assert clause_parts("lift your right knee") == ("legs",)
    assert clause_parts("lean forward") == ("torso",)
    assert clause_parts("nod your head") == ("head",)
    assert clause_parts("do a cartwheel") == ()
