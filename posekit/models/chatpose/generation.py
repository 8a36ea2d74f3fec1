"""Answering: the decode loop with a key-value cache (greedy or nucleus sampling), the
repetition guard, and a pose at every ``<POSE>`` the model writes."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from posekit.body.rotations import rotmat_to_rotvec
from posekit.body.skeleton import NUM_JOINTS
from posekit.datasets.records import POSE_TOKEN, Record

__all__ = ["Answer", "generate", "forced_pose", "check_no_repeat_ngram_size", "ban_repeats", "sample_tokens"]


@dataclasses.dataclass
class Answer:
    """One generated answer: its text and the poses of its ``<POSE>`` tokens."""

    text: str
    poses: torch.Tensor  # (P, 24, 3) axis-angle, global orientation first
    token_ids: list[int]


@torch.no_grad()
def generate(model, records: list[Record], root: Path | None = None, max_new_tokens: int = 96,
             do_sample: bool = False, temperature: float = 0.7, top_p: float = 0.9,
             generator: torch.Generator | None = None, max_poses: int | None = None,
             no_repeat_ngram_size: int = 0) -> list[Answer]:
    """Answer each record's conversation (its last turn must be the user's), batched with a
    key-value cache. Greedy by default; every ``<POSE>`` the model writes gives a pose.

    ``max_poses``: an answer ends once it has written that many poses (``predict`` needs one).
    ``no_repeat_ngram_size=n > 0``: a token that would repeat an ``n``-token sequence already in
    the answer is never chosen (as transformers' option of that name, counted over the answer
    only), which breaks the loops a briefly trained model falls into."""
    if max_poses is not None and max_poses < 1:
        raise ValueError(f"max_poses must be at least 1 (or None for no limit), got {max_poses}")
    check_no_repeat_ngram_size(no_repeat_ngram_size)
    was_training = model.training
    model.eval()
    batch = model.collate(records, root, generation=True).to(model.device)
    mask = batch.attention_mask
    position = (mask.cumsum(1) - 1).clamp(min=0)
    layered = model.config.head_layer != -1
    out = model.decoder(inputs_embeds=model.embed(batch), attention_mask=mask, position_ids=position, use_cache=True,
                       output_hidden_states=layered)
    cache, last, position = out.cache, out.last_hidden_state[:, -1], position[:, -1:]
    # the head's states of every token so far (only the attending head reads beyond the last)
    states = [model.head_states(out)] if model.config.pose_head == "attend" else []
    decoding = model.config.pose_head == "decoder"  # poses come after the words, from the request
    counts = [0] * len(records)
    eos = torch.tensor(sorted({model.tokenizer.eos_token_id, model.tokenizer.convert_tokens_to_ids("<|im_end|>")} - {None}),
                       device=model.device)
    n, pose_id = len(records), model.token_ids[POSE_TOKEN]
    tokens: list[list[int]] = [[] for _ in range(n)]
    poses: list[list[torch.Tensor]] = [[] for _ in range(n)]
    done = torch.zeros(n, dtype=torch.bool, device=model.device)
    for _ in range(max_new_tokens):
        logits = model.logits(last).float()
        if no_repeat_ngram_size:
            ban_repeats(logits, tokens, no_repeat_ngram_size, done)
        choice = sample_tokens(logits, temperature, top_p, generator) if do_sample else logits.argmax(-1)
        choice = torch.where(done, model.tokenizer.pad_token_id, choice)
        live = ~done
        for b in live.nonzero().flatten().tolist():
            tokens[b].append(int(choice[b]))
        done = done | torch.isin(choice, eos)
        mask = torch.cat([mask, live[:, None].long()], 1)
        position = position + 1
        out = model.decoder(inputs_embeds=model.embed_ids(choice[:, None]), attention_mask=mask,
                           position_ids=position, cache=cache, use_cache=True,
                           output_hidden_states=layered)
        cache, last = out.cache, out.last_hidden_state[:, -1]
        if states:
            states.append(model.head_states(out))
        wrote_pose = live & (choice == pose_id)
        if decoding:
            for b in wrote_pose.nonzero().flatten().tolist():
                counts[b] += 1
                if max_poses is not None and counts[b] >= max_poses:
                    done[b] = True
        elif wrote_pose.any():
            rows = wrote_pose.nonzero().flatten()
            seen = torch.cat(states, 1) if states else model.head_states(out)  # (B, T or 1, H)
            rotmats = model.decode_poses(seen, mask[:, -seen.shape[1]:], rows, torch.full_like(rows, seen.shape[1] - 1))
            for k, b in enumerate(rows.tolist()):
                poses[b].append(rotmats[k])
                if max_poses is not None and len(poses[b]) >= max_poses:
                    done[b] = True
        if done.all():
            break
    model.train(was_training)
    if decoding:
        poses = [list(p) for p in model.decoder_poses(records, root, counts)]
    answers, ends = [], set(eos.tolist())
    for b in range(n):
        ids = [t for t in tokens[b] if t not in ends]
        stack = torch.stack(poses[b]) if poses[b] else torch.zeros(0, NUM_JOINTS, 3, 3, device=model.device)
        answers.append(Answer(model.tokenizer.decode(ids), rotmat_to_rotvec(stack).cpu(), ids))
    return answers


@torch.no_grad()
def forced_pose(model, records: list[Record], root: Path | None = None) -> torch.Tensor:
    """``(N, 24, 3)``: the pose at a ``<POSE>`` appended as the whole answer (teacher forcing)."""
    if model.config.pose_head == "decoder":
        return rotmat_to_rotvec(torch.cat(model.decoder_poses(records, root, [1] * len(records)))).cpu()
    answered = [dataclasses.replace(r, messages=[*r.messages, {"role": "assistant", "content": POSE_TOKEN}],
                                    target_poses=[[[0.0] * 3] * NUM_JOINTS]) for r in records]
    was_training = model.training
    model.eval()
    batch = model.collate(answered, root).to(model.device)
    _, states = model.hidden_states(batch)
    rows, cols = batch.pose_positions.T
    model.train(was_training)
    return rotmat_to_rotvec(model.decode_poses(states, batch.attention_mask, rows, cols)).cpu()


def check_no_repeat_ngram_size(n: int) -> None:
    """Refuse a negative repetition guard (0 turns it off), before any work is done."""
    if n < 0:
        raise ValueError(f"no_repeat_ngram_size must be >= 0 (0 turns it off), got {n}")


def ban_repeats(logits: torch.Tensor, tokens: list[list[int]], n: int, done: torch.Tensor) -> None:
    """Set to ``-inf`` (in place) each row's logits of tokens that would end an ``n``-gram already in
    ``tokens[row]`` (the row's answer so far); ``logits`` is ``(B, V)``."""
    for b, seq in enumerate(tokens):
        if done[b] or len(seq) < n:
            continue
        prefix = tuple(seq[len(seq) - n + 1:]) if n > 1 else ()
        banned = {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i:i + n - 1]) == prefix}
        if banned:
            logits[b, sorted(banned)] = float("-inf")


def sample_tokens(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    probs = torch.softmax(logits / max(temperature, 1e-5), -1)
    sorted_probs, order = probs.sort(-1, descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
    sorted_probs = sorted_probs * keep
    pick = torch.multinomial(sorted_probs / sorted_probs.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(-1, pick)[:, 0]
