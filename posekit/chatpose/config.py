"""ChatPose's configuration, saved inside every checkpoint, and its vocabulary of constants."""
from __future__ import annotations

import dataclasses
import difflib

import torch

from posekit.conversations import IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN
from posekit.llm import DEFAULT_BACKBONE
from posekit.vision import DEFAULT_VISION

__all__ = ["ChatPoseConfig", "CheckpointError", "SPECIAL_TOKENS", "POSE_HEADS", "DTYPES"]

SPECIAL_TOKENS = (POSE_TOKEN, POSE_IN_TOKEN, IMAGE_TOKEN)
POSE_HEADS = ("mlp", "attend", "decoder")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


class CheckpointError(RuntimeError):
    """A ChatPose checkpoint is missing, corrupt or does not match the model being loaded."""


@dataclasses.dataclass
class ChatPoseConfig:
    """Everything needed to rebuild a ChatPose model (saved inside every checkpoint)."""

    backbone: str = DEFAULT_BACKBONE
    """LLM: ``"smollm2-135m"``, a local Hugging Face model folder, or a cached hub name."""
    vision_encoder: str | None = DEFAULT_VISION
    """Frozen image encoder (see :func:`posekit.vision.make_vision_encoder`); None: text and poses only."""
    lora_rank: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")
    pose_in_tokens: int = 1
    """Embedding-space tokens per input pose."""
    ce_weight: float = 1.0
    rotmat_weight: float = 0.1
    joint_weight: float = 0.0
    """Weight of the L1 joint-position loss (metres, pelvis-relative) through forward kinematics."""
    max_length: int = 512
    pose_head: str = "mlp"
    """``"mlp"``: ChatPose's MLP on the ``<POSE>`` hidden state alone. ``"attend"``: the ``<POSE>``
    state also attends over the states of every token before it (see :class:`AttendPoseHead`).
    ``"decoder"``: :class:`posekit.pose_decoder.PoseDecoder` over the frozen LLM's request states."""
    head_layer: int = -1
    """Which hidden states the head reads: -1 the last layer (ChatPose), k the output of layer k
    (the decoder head needs k >= 0; 8 measured best for SmolLM2-135M)."""
    decoder_width: int = 256
    """Width of the decoder head (``pose_head="decoder"``)."""
    decoder_layers: int = 2
    """Transformer layers of the decoder head."""
    decoder_grounding: bool = False
    """The decoder head grounds image requests in the image (:attr:`posekit.pose_decoder.PoseDecoderConfig.grounding`)."""
    decoder_image_layers: int = 0
    """Self-attention layers over the image tokens in the decoder head (:attr:`posekit.pose_decoder.PoseDecoderConfig.image_layers`)."""
    decoder_image_text_layers: int = 0
    """Layers in which the decoder head's image tokens read the request (:attr:`posekit.pose_decoder.PoseDecoderConfig.image_text_layers`)."""
    decoder_confidence: str = "none"
    """The decoder head's confidence gate (:attr:`posekit.pose_decoder.PoseDecoderConfig.confidence`)."""
    system_prompt: str = "You are ChatPose. You understand 3D human poses."
    """Replaces the records' system turns (short: every token costs training time on a CPU)."""

    def __post_init__(self) -> None:
        if self.pose_head not in POSE_HEADS:
            raise ValueError(f"pose_head must be one of {POSE_HEADS}, got {self.pose_head!r}")
        if self.pose_head == "decoder" and self.head_layer < 0:
            raise ValueError("pose_head='decoder' reads the states of one LLM layer: set head_layer >= 0 (e.g. 8)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "ChatPoseConfig":
        known = {f.name for f in dataclasses.fields(ChatPoseConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            hints = {name: difflib.get_close_matches(name, known, n=1) for name in unknown}
            typos = [f"{name!r} (did you mean {close[0]!r}?)" for name, close in hints.items() if close]
            if typos:
                raise CheckpointError(f"unknown ChatPoseConfig fields: {', '.join(typos)}; fix the config.json")
            raise CheckpointError(f"unknown ChatPoseConfig fields {unknown}: a config from another posekit version, "
                                  f"or misspelt; the fields are {sorted(known)}")
        values = dict(values)
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return ChatPoseConfig(**values)
