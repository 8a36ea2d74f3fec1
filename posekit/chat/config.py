"""The chat's defaults in one place (plain values, no torch): :class:`~posekit.chat.session.ChatSession`'s
keyword defaults and ``posekit chat``'s options are read from :data:`CHAT_DEFAULTS`."""
from __future__ import annotations

import dataclasses

from posekit.configs import check_field_types

__all__ = ["ChatConfig", "CHAT_DEFAULTS", "NO_REPEAT_NGRAM"]


@dataclasses.dataclass(frozen=True)
class ChatConfig:
    max_new_tokens: int = 160
    """Longest answer, in tokens."""
    do_sample: bool = False
    """Sample instead of greedy decoding."""
    temperature: float = 0.7
    top_p: float = 0.9
    seed: int = 0
    dtype: str = "float16"
    """Inference dtype: float16 answers as float32 does and generates about twice as fast on a CPU
    (:meth:`posekit.models.chatpose.ChatPose.set_dtype`)."""
    no_repeat_ngram_size: int = 4
    """A guard against answers that loop: no 4-token sequence twice in one answer (0: off)."""
    context_turns: int = 0
    """Earlier exchanges the model reads with each message (0: each message alone)."""

    def __post_init__(self) -> None:
        check_field_types(self)


CHAT_DEFAULTS = ChatConfig()
NO_REPEAT_NGRAM = CHAT_DEFAULTS.no_repeat_ngram_size
"""The chat's default repetition guard."""
