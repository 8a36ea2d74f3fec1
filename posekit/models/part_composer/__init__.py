"""The part composer (one module per job: ``config``, ``model``, ``training``): a request's clauses, each setting the joints it speaks of.

The decoder answers a request with one body; "squat down with both arms reaching forward" asks for
two things, one per body part. The composer reads each clause of the request
(:func:`posekit.language.clauses.split_clauses`) on its own: from the clause's MiniLM embedding and
the numbers it names (degrees), a small network predicts which joints the clause sets (24
probabilities: "bend your right elbow to 90 degrees" sets the right forearm only); the rotations
come from the clause's nearest entry of a phrase memory (the canonical poses' labels and drawn part
phrases with measured angles and heights; among the nearest by meaning, the one whose number is
nearest the clause's). The answer starts from the decoder's answer (a new pose) or from the given
pose (an edit) and each clause, in order, puts its rotations on the joints it sets. A single clause
that sets nearly the whole body ("kneel on one knee") is the decoder's: its answer stays.

Clauses combine into bodies that no stored pose holds, and the drawn phrases cover angles, heights
and amounts densely. A regressed rotation per joint (the network's own, ``proposal="regressed"``)
was measured too: it hedges between the poses a clause could mean (docs/model-design.md).

Trained (:func:`train_part_composer`) on the canonical poses' labels (names, who phrases,
situations, plain requests: the joints each one sets are those its words name, else those where
its pose differs from standing) and on drawn part phrases with measured angles and heights
(:func:`posekit.language.part_phrases.part_phrases`); a few minutes on 2 CPU cores.

    composer = train_part_composer(body, poses=train_poses)
    poses = composer.compose(texts, bases, edits)            # (N, 24, 3) axis-angle
"""
from posekit.lazy import lazy_exports

__getattr__, __dir__, __all__ = lazy_exports(__name__, {
    "config": ("PartComposerConfig", "COMPOSER_FILE", "PROPOSALS"),
    "model": ("PartComposer", "number_features"),
    "training": ("train_part_composer", "composer_examples"),
})
