"""What a decoder that reads the request's words (the retrieval memory, or the sentence alone) needs
besides the LLM states: each request's MiniLM sentence embedding, and a label memory (the canonical
poses' names, who phrases, situations and plain requests with their poses) that it recalls the
nearest poses from.

    memory = build_label_memory(["hands on hips", ...])        # LabelMemory: keys, owner, table, texts
    decoder.set_label_memory(memory.keys, memory.owner, memory.table)
    inputs = sentence_inputs(records, memory)                   # RecallInputs: sentences (N, 384), exclude
"""
from __future__ import annotations

import dataclasses

import torch

from posekit.corpus.library import canonical_poses
from posekit.datasets.plain import normalise_request, pose_labels
from posekit.datasets.records import IMAGE_TOKEN, POSE_IN_TOKEN, Record
from posekit.encoders.text import TEXT_DIM, get_text_encoder

__all__ = ["LabelMemory", "RecallInputs", "build_label_memory", "request_text", "sentence_inputs"]


@dataclasses.dataclass
class LabelMemory:
    texts: list[str]
    keys: torch.Tensor  # (L, 384) unit MiniLM embeddings
    owner: torch.Tensor  # (L,) index into table
    table: torch.Tensor  # (P, 24, 3) canonical poses, axis-angle
    names: list[str]  # (P,) their names


@dataclasses.dataclass
class RecallInputs:
    sentences: torch.Tensor  # (N, 384) the requests' MiniLM embeddings
    exclude: list[list[int]] | None = None  # per request, the labels with its own text (training only)


def build_label_memory(poses: list[str] | None = None, plain: bool = True,
                       descriptions: set[str] | None = None) -> LabelMemory:
    """The labels of the canonical ``poses`` (all when None; :func:`posekit.datasets.plain.pose_labels`,
    with the plain requests when ``plain``), keeping of the spg ``descriptions`` only those in
    ``descriptions`` when given, embedded with MiniLM."""
    labels = pose_labels(poses, plain=plain, descriptions=descriptions)
    table = canonical_poses(list(dict.fromkeys(pose for _, pose in labels)))
    names = list(table)
    texts = [text for text, _ in labels]
    return LabelMemory(texts, get_text_encoder().encode(texts), torch.tensor([names.index(p) for _, p in labels]),
                       torch.stack(list(table.values())), names)


def request_text(record: Record) -> str:
    """What the person typed: the record's last user turn, placeholders removed (the same text in
    training, evaluation and the chat, where a request comes with no metadata)."""
    user = [m["content"] for m in record.messages if m["role"] == "user"]
    text = user[-1] if user else ""
    for placeholder in (POSE_IN_TOKEN, IMAGE_TOKEN):
        text = text.replace(placeholder, "")
    return " ".join(text.split())


def sentence_inputs(records: list[Record], memory: LabelMemory | None = None) -> RecallInputs:
    """Each record's :func:`request_text` embedded with MiniLM ``(N, 384)``; with the training
    ``memory``, the labels that are the request's own text (left out of what it recalls, as a
    held-out request would find them)."""
    texts = [request_text(r) for r in records]
    sentences = get_text_encoder().encode(texts) if texts else torch.zeros(0, TEXT_DIM)
    exclude = None
    if memory is not None:
        where: dict[str, list[int]] = {}
        for k, text in enumerate(memory.texts):
            where.setdefault(normalise_request(text), []).append(k)
        exclude = [where.get(normalise_request(t), []) for t in texts]
    return RecallInputs(sentences, exclude)
