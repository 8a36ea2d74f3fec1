"""Frozen encoders, all offline from their PyPI packages: the causal LLM (:mod:`~posekit.encoders.llm`),
image features (:mod:`~posekit.encoders.vision`), sentence embeddings (:mod:`~posekit.encoders.text`)
and the cache of LLM request states and image tokens computed once (:mod:`~posekit.encoders.state_cache`).
Each is imported on its own (they pull in transformers or the image model)."""
