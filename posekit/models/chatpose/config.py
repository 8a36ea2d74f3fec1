"""ChatPose's configuration, saved inside every checkpoint, and its vocabulary of constants."""
from __future__ import annotations

import dataclasses
import difflib

from posekit.configs import check_field_types
from posekit.datasets.records import CHAT_SYSTEM_PROMPT, IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN
from posekit.encoders.defaults import DEFAULT_BACKBONE, DEFAULT_VISION
from posekit.models.decoder.config import PoseDecoderConfig

__all__ = ["ChatPoseConfig", "CheckpointError", "SPECIAL_TOKENS", "POSE_HEADS", "DTYPES", "LEGACY_DECODER_FIELDS",
           "decoder_config_from_dict"]

SPECIAL_TOKENS = (POSE_TOKEN, POSE_IN_TOKEN, IMAGE_TOKEN)
POSE_HEADS = ("mlp", "attend", "decoder")
DTYPES = ("float32", "float16", "bfloat16")
"""Inference dtypes by name (``torch.<name>``; :meth:`ChatPose.set_dtype`)."""


LEGACY_DECODER_FIELDS = {"decoder_width": "width", "decoder_layers": "layers", "decoder_grounding": "grounding",
                         "decoder_image_layers": "image_layers", "decoder_image_text_layers": "image_text_layers",
                         "decoder_confidence": "confidence"}
"""``config.json`` fields of checkpoints saved before :attr:`ChatPoseConfig.decoder` was nested, and
the :class:`PoseDecoderConfig` field each one sets (they still load)."""


def decoder_config_from_dict(values: dict) -> PoseDecoderConfig:
    """A :class:`PoseDecoderConfig` from its saved dict; unknown fields are a :class:`CheckpointError`."""
    known = {f.name for f in dataclasses.fields(PoseDecoderConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise CheckpointError(f"unknown decoder config fields {unknown} in config.json; the fields are {sorted(known)}")
    return PoseDecoderConfig(**values)


class CheckpointError(RuntimeError):
    """A ChatPose checkpoint is missing, corrupt or does not match the model being loaded."""


@dataclasses.dataclass
class ChatPoseConfig:
    """Everything needed to rebuild a ChatPose model (saved inside every checkpoint)."""

    backbone: str = DEFAULT_BACKBONE
    """LLM: ``"smollm2-135m"``, a local Hugging Face model folder, or a cached hub name."""
    vision_encoder: str | None = DEFAULT_VISION
    """Frozen image encoder (see :func:`posekit.encoders.vision.make_vision_encoder`); None: text and poses only."""
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
    ``"decoder"``: :class:`posekit.models.decoder.PoseDecoder` over the frozen LLM's request states."""
    head_layer: int = -1
    """Which hidden states the head reads: -1 the last layer (ChatPose), k the output of layer k
    (the decoder head needs k >= 0; 8 measured best for SmolLM2-135M)."""
    decoder: PoseDecoderConfig = dataclasses.field(default_factory=PoseDecoderConfig)
    """The decoder head's architecture (``pose_head="decoder"``); its input sizes (``state_dim``,
    ``image_dim``, ``image_tokens``, ``image_detail_dim``) are set from the LLM and the vision
    encoder when the head is built."""
    system_prompt: str = CHAT_SYSTEM_PROMPT
    """Replaces the records' system turns (short: every token costs training time on a CPU)."""

    def __post_init__(self) -> None:
        check_field_types(self)
        if self.pose_head not in POSE_HEADS:
            raise ValueError(f"pose_head must be one of {POSE_HEADS}, got {self.pose_head!r}")
        if self.pose_head == "decoder" and self.head_layer < 0:
            raise ValueError("pose_head='decoder' reads the states of one LLM layer: set head_layer >= 0 (e.g. 8)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "ChatPoseConfig":
        known = {f.name for f in dataclasses.fields(ChatPoseConfig)} | set(LEGACY_DECODER_FIELDS)
        unknown = sorted(set(values) - known)
        if unknown:
            hints = {name: difflib.get_close_matches(name, known, n=1) for name in unknown}
            typos = [f"{name!r} (did you mean {close[0]!r}?)" for name, close in hints.items() if close]
            if typos:
                raise CheckpointError(f"unknown ChatPoseConfig fields: {', '.join(typos)}; fix the config.json")
            raise CheckpointError(f"unknown ChatPoseConfig fields {unknown}: a config from another posekit version, "
                                  f"or misspelt; the fields are {sorted(known)}")
        values = dict(values)
        legacy = {k: values.pop(k) for k in list(values) if k in LEGACY_DECODER_FIELDS}
        if legacy:  # a checkpoint saved before the decoder's config was nested
            values["decoder"] = {**{LEGACY_DECODER_FIELDS[k]: v for k, v in legacy.items()}, **values.get("decoder", {})}
        if isinstance(values.get("decoder"), dict):
            values["decoder"] = decoder_config_from_dict(values["decoder"])
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return ChatPoseConfig(**values)
