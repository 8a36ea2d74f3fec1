"""The pose corpus: the authored pose library (:mod:`~posekit.corpus.library`), variants sampled
around it (:mod:`~posekit.corpus.variants`), the canonical poses and their train / val / test
splits (:mod:`~posekit.corpus.splits`) and multi-person scenes with their RPE queries
(:mod:`~posekit.corpus.scenes`)."""
