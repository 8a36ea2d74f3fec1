from posekit.language.consistency import contradictions, relation_facts, repeated_sentences, sentences

LOOP = ("The left hand is in front of the torso, and their right hand is behind the torso. Their left foot is ahead "
        "of the right foot and their right foot is ahead of the left foot. The right foot is ahead of the left foot "
        "and the left foot is ahead of the right foot. The right foot is ahead of the left foot and the left foot is "
        "ahead of the right foot. Both feet are ahead of the torso.")


def test_a_looping_description_repeats_itself_and_contradicts_itself():
    assert len(sentences(LOOP)) == 5
    assert repeated_sentences(LOOP) == ["The right foot is ahead of the left foot and the left foot is ahead of the "
                                        "right foot."]
    pairs = contradictions(LOOP)
    assert (("left foot", "ahead of", "right foot"), ("right foot", "ahead of", "left foot")) in pairs


def test_a_consistent_caption_has_neither():
    text = ("The left hand is above the head. The right knee is bent. The left foot is ahead of the right foot. "
            "The right hand is below the left hand.")
    assert repeated_sentences(text) == [] and contradictions(text) == []
    assert ("left hand", "above", "head") in relation_facts(text)


def test_opposite_relations_between_the_same_parts_contradict():
    text = "The left hand is above the head. Later: the left hand is below the head."
    assert contradictions(text) == [(("left hand", "above", "head"), ("left hand", "below", "head"))]
