"""From conversation records to token batches: the chat template cut into prompt and answer
pieces, placeholders expanded (one position per image / pose token), padding, and the inputs
each placeholder stands for."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from posekit.body.skeleton import NUM_JOINTS
from posekit.datasets.records import IMAGE_TOKEN, POSE_IN_TOKEN, Record
from posekit.encoders.vision import load_image
from posekit.models.chatpose.config import SPECIAL_TOKENS

__all__ = ["Batch", "chat_segments", "tokenise", "collate", "expand_placeholder"]


@dataclasses.dataclass
class Batch:
    """Token ids with the inputs their placeholders stand for (built by :meth:`ChatPose.collate`)."""

    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    labels: torch.Tensor  # (B, T), -100 where no loss
    pose_positions: torch.Tensor  # (P, 2) (row, column) of each <POSE> input, in reading order
    target_poses: torch.Tensor  # (P, 24, 3) the pose each <POSE> stands for (empty at inference)
    pose_in_positions: torch.Tensor  # (Q * tokens, 2)
    input_poses: torch.Tensor  # (Q, 24, 3)
    image_positions: torch.Tensor  # (I * image_tokens, 2)
    images: torch.Tensor  # (I, 3, 224, 224)

    def to(self, device) -> "Batch":
        return Batch(**{f.name: getattr(self, f.name).to(device) for f in dataclasses.fields(self)})


def chat_segments(tokenizer, messages: list[dict], add_generation_prompt: bool) -> list[tuple[str, bool]]:
    """The chat-template text cut into ``(text, is_answer)`` pieces, whatever the template."""
    tok = tokenizer
    render = lambda msgs, gen=False: tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=gen)  # noqa: E731
    pieces, done = [], ""
    for k, message in enumerate(messages):
        if message["role"] == "assistant":
            header = render(messages[:k], True)
            pieces.append((header[len(done):], False))
            full = render(messages[:k + 1])
            pieces.append((full[len(header):], True))
        else:
            full = render(messages[:k + 1])
            pieces.append((full[len(done):], False))
        done = full
    if add_generation_prompt:
        pieces.append((render(messages, True)[len(done):], False))
    return pieces


def tokenise(model, record: Record, add_generation_prompt: bool) -> tuple[list[int], list[int]]:
    """Token ids and labels (-100 outside answers) of ``record`` as ``model`` reads it: its own short
    system prompt, image and pose placeholders repeated once per encoder token."""
    ids, labels = [], []
    messages = [m for m in record.messages if m["role"] != "system"]
    if model.config.system_prompt:
        messages = [{"role": "system", "content": model.config.system_prompt}, *messages]
    for text, answer in chat_segments(model.tokenizer, messages, add_generation_prompt):
        piece = model.tokenizer(text, add_special_tokens=False)["input_ids"]
        ids += piece
        labels += piece if answer else [-100] * len(piece)
    if model.token_ids[IMAGE_TOKEN] in ids and model.vision is None:
        raise ValueError(f"{record.id}: has an image but the model has no vision encoder")
    if model.vision is not None:
        ids, labels = expand_placeholder(ids, labels, model.token_ids[IMAGE_TOKEN], model.vision.tokens)
    return expand_placeholder(ids, labels, model.token_ids[POSE_IN_TOKEN], model.config.pose_in_tokens)


def collate(model, records: list[Record], root: Path | None = None, generation: bool = False) -> Batch:
    """Records -> a padded :class:`Batch` (right padding for training, left for generation).

    Sequences longer than ``config.max_length`` keep their last tokens for generation and their
    first for training; a ``<POSE>`` cut off loses its target."""

    encoded = [tokenise(model, r, add_generation_prompt=generation) for r in records]
    limit = model.config.max_length
    encoded = [(i[-limit:], l[-limit:]) if generation else (i[:limit], l[:limit]) for i, l in encoded]
    width = max(len(i) for i, _ in encoded)
    pad = model.tokenizer.pad_token_id
    ids = torch.full((len(records), width), pad, dtype=torch.long)
    labels = torch.full_like(ids, -100)
    mask = torch.zeros_like(ids)
    for b, (i, l) in enumerate(encoded):
        cols = slice(width - len(i), width) if generation else slice(0, len(i))
        ids[b, cols], labels[b, cols], mask[b, cols] = torch.tensor(i), torch.tensor(l), 1
    special = lambda token: (ids == model.token_ids[token]) & (mask == 1)  # noqa: E731
    pose_pos, pose_in_pos, image_pos = (special(t).nonzero() for t in SPECIAL_TOKENS)
    targets, inputs = [], []
    for b, record in enumerate(records):  # the poses whose placeholders survived the cut
        targets += record.target_poses[:int((pose_pos[:, 0] == b).sum())]
        kept = int((pose_in_pos[:, 0] == b).sum()) // model.config.pose_in_tokens
        inputs += (record.input_poses[len(record.input_poses) - kept:] if generation else record.input_poses[:kept])
    images = [load_image(Path(root or ".") / r.image if isinstance(r.image, str) else r.image)
              for b, r in enumerate(records) if r.image is not None and (image_pos[:, 0] == b).any()]
    tokens = model.vision.tokens if model.vision is not None else 1
    if len(images) * tokens != len(image_pos):
        raise ValueError("each record may hold one whole <image> (raise max_length if it was cut off)")
    as_poses = lambda poses: torch.tensor(poses, dtype=torch.float32).reshape(-1, NUM_JOINTS, 3)  # noqa: E731
    return Batch(ids, mask, labels, pose_pos, as_poses(targets), pose_in_pos, as_poses(inputs), image_pos,
                 torch.stack(images) if images else torch.zeros(0, 3, 224, 224))


def expand_placeholder(ids: list[int], labels: list[int], token: int, n: int) -> tuple[list[int], list[int]]:
    """Repeat each ``token`` ``n`` times (one position per encoder token), never as a label."""
    if n == 1 or token not in ids:
        return ids, labels
    out_ids, out_labels = [], []
    for i, label in zip(ids, labels, strict=True):
        out_ids += [i] * n if i == token else [i]
        out_labels += [-100] * n if i == token else [label]
    return out_ids, out_labels
