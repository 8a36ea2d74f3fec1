import numpy as np

from posekit.language.phrasing import (
    PREDICATES,
    Chooser,
    Fact,
    dedupe_facts,
    entity_phrase,
    merge_limbs,
    merge_twins,
    mirror_entity,
    split_entity,
)


def test_entity_names():
    assert entity_phrase("left_hand") == ("left hand", False)
    assert entity_phrase("both:foot") == ("feet", True)
    assert entity_phrase("left_hip-left_knee") == ("left thigh", False)
    assert entity_phrase("hips") == ("hips", True)
    assert split_entity("right_elbow-right_wrist") == ("right", "elbow-wrist")
    assert mirror_entity("left_foot") == "right_foot" and mirror_entity(None) is None


def test_cross_side_twins_merge_and_their_duplicate_goes():
    """left foot above right knee + right foot above left knee = feet above knees, which is also
    what the same-side pair says: one fact remains, with every source."""
    facts = [Fact("position_y", "above", ["left_foot"], "left_knee", ["a"]),
             Fact("position_y", "above", ["right_foot"], "right_knee", ["b"]),
             Fact("position_y", "above", ["left_foot"], "right_knee", ["c"]),
             Fact("position_y", "above", ["right_foot"], "left_knee", ["d"])]
    merged = merge_twins(facts)
    assert len(merged) == 1
    assert merged[0].subjects == ["both:foot"] and merged[0].obj == "both:knee"
    assert sorted(merged[0].sources) == ["a", "b", "c", "d"]


def test_dedupe_keeps_order_and_joins_sources():
    facts = [Fact("angle", "straight", ["left_knee"], None, ["x"], trivial=True),
             Fact("ground", "on the ground", ["both:foot", "both:foot"], None, ["y"]),
             Fact("angle", "straight", ["left_knee"], None, ["z"], essential=True)]
    out = dedupe_facts(facts)
    assert [f.sources for f in out] == [["x", "z"], ["y"]]
    assert out[0].essential and not out[0].trivial  # an essential duplicate keeps the fact
    assert out[1].subjects == ["both:foot"]


def test_hand_and_elbow_become_the_arm():
    facts = [Fact("position_y", "above", ["left_hand"], "head", ["a"]),
             Fact("position_y", "above", ["left_elbow"], "head", ["b"])]
    assert [f.subjects for f in merge_limbs(facts, None, 1.0)] == [["left_arm"]]


def test_chooser_is_deterministic_without_a_generator_and_seeded_with_one():
    options = ("a", "b", "c", "d")
    assert Chooser(None).pick(options) == "a" and not Chooser(None).chance(1.0)
    first = [Chooser(np.random.default_rng(3)).pick(options) for _ in range(5)]
    assert first == [Chooser(np.random.default_rng(3)).pick(options) for _ in range(5)]
    rng = np.random.default_rng(4)
    chooser = Chooser(rng)
    assert len({chooser.pick(options) for _ in range(40)}) == 4
    assert "{obj}" in PREDICATES["position_y"]["above"][0]
