"""Frozen LLM token states of requests, computed once and cached.

A request's states are the hidden states at layer ``L`` (the output of decoder layer ``L``;
0 is the embeddings) of the frozen backbone over the chat-template prompt of the request:
a short system turn, the user turn(s) up to the first answer that holds a ``<POSE>``, and
the assistant header. Placeholders (``<pose_in>``, ``<image>``) are read as plain words here:
the poses and images themselves reach the pose decoder directly
(:mod:`posekit.models.decoder`), so the states are a pure function of the request text and
can be computed once and reused for every training epoch.

Cost on 2 CPU cores (SmolLM2-135M): layers above ``L`` are never run, batches are sorted by
length, and only layer ``L`` is kept (float16 on disk).

    states = request_states(records, layer=8)       # RequestStates: states[i] (T_i, H)

The cache file is keyed by the backbone, the layer and the token ids themselves, so a
changed dataset, template or backbone never reads stale states; a file that fails to load
is rebuilt.
"""
from __future__ import annotations

import dataclasses
import hashlib
import warnings
from pathlib import Path

import torch

from posekit import distributed
from posekit.datasets.records import CHAT_SYSTEM_PROMPT, IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.encoders.defaults import DEFAULT_BACKBONE, DEFAULT_STATE_LAYER
from posekit.encoders.llm import load_backbone
from posekit.encoders.vision import DEFAULT_VISION, load_image, make_vision_encoder
from posekit.files import atomic_path, first_bad_tensor
from posekit.paths import cache_dir

__all__ = ["RequestStates", "request_states", "request_messages", "image_tokens", "STATE_SYSTEM_PROMPT", "PLACEHOLDER_WORDS",
           "DEFAULT_STATE_LAYER"]

STATE_SYSTEM_PROMPT = CHAT_SYSTEM_PROMPT
"""The system turn the states are computed with (ChatPose's default, short)."""


@dataclasses.dataclass(frozen=True)
class RequestStates:
    """Token states of ``N`` requests, stored flat."""

    flat: torch.Tensor
    """``(sum T_i, H)`` float16 states of every request's tokens, request after request."""
    offsets: torch.Tensor
    """``(N + 1,)`` int64: request ``i`` owns rows ``offsets[i]:offsets[i + 1]``."""
    layer: int
    backbone: str

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> torch.Tensor:
        """``(T_i, H)`` states of request ``i``."""
        return self.flat[self.offsets[i]:self.offsets[i + 1]]

    @property
    def lengths(self) -> torch.Tensor:
        return self.offsets[1:] - self.offsets[:-1]

    def __add__(self, other: "RequestStates") -> "RequestStates":
        """The requests of ``self`` then those of ``other`` (same layer and backbone): states cached
        in parts (a dataset's, then augmentation's) are joined without computing either again."""
        if (self.layer, self.backbone) != (other.layer, other.backbone) or self.flat.shape[1:] != other.flat.shape[1:]:
            raise ValueError(f"cannot join states of layer {self.layer} of {self.backbone} with layer {other.layer} "
                             f"of {other.backbone}")
        return RequestStates(torch.cat([self.flat, other.flat]), torch.cat([self.offsets, other.offsets[1:] + self.offsets[-1]]),
                             self.layer, self.backbone)

    def padded(self, index: list[int] | torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """States ``(B, T, H)`` float32, right-padded, and ``mask (B, T)`` (True: a real token)."""
        rows = [self[int(i)] for i in index]
        width = max(len(r) for r in rows)
        out = torch.zeros(len(rows), width, self.flat.shape[1])
        mask = torch.zeros(len(rows), width, dtype=torch.bool)
        for b, r in enumerate(rows):
            out[b, :len(r)] = r.float()
            mask[b, :len(r)] = True
        return out, mask


PLACEHOLDER_WORDS = {POSE_IN_TOKEN: "(the given pose)", IMAGE_TOKEN: "(the image)", POSE_TOKEN: "(a pose)"}
"""What the LLM reads in place of each placeholder: plain words, so that a tokenizer with or
without posekit's special tokens (ChatPose adds them) gives the same ids and states."""


def request_messages(record: Record, system_prompt: str = STATE_SYSTEM_PROMPT) -> list[dict]:
    """The turns a model reads before it writes the record's first pose: the system turn, then
    every turn before the first assistant turn that holds ``<POSE>`` (a prompt, i.e. a
    conversation that ends with the user's turn, is read whole, earlier answers included),
    placeholders replaced by :data:`PLACEHOLDER_WORDS`."""
    messages = [m for m in record.messages if m["role"] != "system"]
    if messages and messages[-1]["role"] != "assistant":  # a prompt: everything said so far
        cut = len(messages)
    else:
        cut = next((k for k, m in enumerate(messages) if m["role"] == "assistant" and POSE_TOKEN in m["content"]),
                   len(messages) - 1)
    turns = []
    for m in messages[:cut]:
        text = m["content"]
        for token, words in PLACEHOLDER_WORDS.items():
            text = text.replace(token, words)
        turns.append({"role": m["role"], "content": text})
    return [{"role": "system", "content": system_prompt}, *turns]


def _token_ids(records: list[Record], tokenizer, system_prompt: str) -> list[list[int]]:
    texts = [tokenizer.apply_chat_template(request_messages(r, system_prompt), tokenize=False,
                                           add_generation_prompt=True) for r in records]
    return [tokenizer(t, add_special_tokens=False)["input_ids"] for t in texts]


def _cache_key(ids: list[list[int]], layer: int, backbone: str, model) -> str:
    h = hashlib.sha256()
    config = model.config
    h.update(f"{backbone}|{layer}|{config.hidden_size}|{config.num_hidden_layers}|{config.vocab_size}".encode())
    dtype = next(model.parameters()).dtype
    if dtype != torch.float32:  # a half-precision backbone's states are its own (float32 keys stay as they were)
        h.update(str(dtype).encode())
    for seq in ids:
        h.update(torch.tensor(seq, dtype=torch.int32).numpy().tobytes())
        h.update(b"|")
    return h.hexdigest()[:24]


def _read_cache(path: Path, what: str) -> dict[str, torch.Tensor] | None:
    """The tensors of a cache file, or None (and the file deleted, with a warning) when it cannot
    be read or holds values no encoder writes (NaN, infinities, all zeros): a torn or damaged file
    is rebuilt, never trusted."""
    from safetensors.torch import load_file

    try:
        data = load_file(path)
    except Exception as err:  # noqa: BLE001 - any unreadable file means: rebuild it
        warnings.warn(f"{what} cache {path} could not be read ({type(err).__name__}: {err}); rebuilding it")
        path.unlink(missing_ok=True)
        return None
    bad = first_bad_tensor(data, all_zero=("flat", "tokens"))
    if bad:
        warnings.warn(f"{what} cache {path} holds bad values in {bad}; rebuilding it")
        path.unlink(missing_ok=True)
        return None
    return data


@torch.no_grad()
def request_states(records: list[Record], layer: int = DEFAULT_STATE_LAYER, backbone: str = DEFAULT_BACKBONE,
                   batch_size: int = 32, progress: bool = True, cache: bool = True, model=None,
                   system_prompt: str = STATE_SYSTEM_PROMPT) -> RequestStates:
    """Layer-``layer`` states of each record's request (see the module docstring).

    Args:
        records: conversation records (any task; only the request side is read).
        layer: 0 (embeddings) .. number of layers of the backbone.
        backbone: as in :func:`posekit.encoders.llm.load_backbone`.
        model: ``(model, tokenizer)`` already loaded (tests pass a tiny one).
        cache: read / write ``$POSEKIT_CACHE/states/<key>.safetensors``.

    The backbone runs where its weights are (a GPU: move it there first). Under a launcher with
    several processes (:mod:`posekit.distributed`) and ``cache``, the batches are shared out: each
    process computes its share into a part file, the main process joins the parts into the cache
    file, and every process reads that (the cache folder must be one that all processes see).
    """
    llm, tokenizer = model if model is not None else load_backbone(backbone)
    layers = llm.config.num_hidden_layers
    if not 0 <= layer <= layers:
        raise ValueError(f"layer must be in 0..{layers} for backbone {backbone!r}, got {layer}")
    ids = _token_ids(records, tokenizer, system_prompt)
    path = cache_dir() / "states" / f"{_cache_key(ids, layer, backbone, llm)}.safetensors"
    if cache and path.is_file():
        data = _read_cache(path, "state")
        if data is not None and len(data["offsets"]) == len(records) + 1:
            return RequestStates(data["flat"], data["offsets"], layer, backbone)
    processes = distributed.num_processes() if cache else 1
    if processes > 1:
        return _shared_states(llm, tokenizer, ids, layer, backbone, batch_size, progress, path)
    states = _compute_states(llm, tokenizer, ids, layer, batch_size, progress)
    result = _join(states, layer, backbone)
    if cache:
        _write_states(path, result)
    return result


def _join(states: list[torch.Tensor], layer: int, backbone: str) -> RequestStates:
    lengths = torch.tensor([len(s) for s in states], dtype=torch.long)
    return RequestStates(torch.cat(states), torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)]),
                         layer, backbone)


def _write_states(path: Path, states: RequestStates) -> None:
    from safetensors.torch import save_file

    with atomic_path(path) as tmp:
        save_file({"flat": states.flat.contiguous(), "offsets": states.offsets}, str(tmp))


def _shared_states(llm, tokenizer, ids: list[list[int]], layer: int, backbone: str, batch_size: int, progress: bool,
                   path: Path) -> RequestStates:
    """:func:`request_states` over several processes: each computes every N-th batch (of the
    length-sorted order) into ``<cache>.part-<k>-of-<N>``, the main process joins the parts into
    the cache file, and every process reads it."""
    from safetensors.torch import load_file, save_file

    rank, processes = distributed.process_index(), distributed.num_processes()
    mine = _compute_states(llm, tokenizer, ids, layer, batch_size, progress and distributed.is_main(),
                           share=(rank, processes))
    part = path.with_name(f"{path.stem}.part-{rank}-of-{processes}.safetensors")
    index = sorted(mine)
    with atomic_path(part) as tmp:
        joined = _join([mine[i] for i in index], layer, backbone)
        save_file({"flat": joined.flat.contiguous(), "offsets": joined.offsets,
                   "index": torch.tensor(index, dtype=torch.long)}, str(tmp))
    distributed.barrier()
    if distributed.is_main():
        states: list[torch.Tensor | None] = [None] * len(ids)
        parts = [path.with_name(f"{path.stem}.part-{k}-of-{processes}.safetensors") for k in range(processes)]
        for name in parts:
            data = load_file(name)
            for j, i in enumerate(data["index"].tolist()):
                states[i] = data["flat"][data["offsets"][j]:data["offsets"][j + 1]]
        _write_states(path, _join(states, layer, backbone))
        for name in parts:
            name.unlink()
    distributed.barrier()
    data = _read_cache(path, "state")
    if data is None:
        raise RuntimeError(f"the state cache {path} that the main process wrote cannot be read here: every process "
                           "must see the same cache folder ($POSEKIT_CACHE)")
    return RequestStates(data["flat"], data["offsets"], layer, backbone)


def _compute_states(llm, tokenizer, ids: list[list[int]], layer: int, batch_size: int, progress: bool,
                    share: tuple[int, int] = (0, 1)):
    """Layer-``layer`` states ``(T_i, H)`` float16 (on the CPU) of each token-id list: a list in
    order, or with ``share=(k, N)`` a dict of the requests in every N-th batch from the k-th."""
    from tqdm.auto import tqdm

    where = next(llm.parameters()).device
    base = llm.get_decoder() if hasattr(llm, "get_decoder") else llm.model
    kept = base.layers
    base.layers = kept[:layer]  # never compute the layers above `layer`
    captured: list[torch.Tensor] = []
    source = kept[layer - 1] if layer > 0 else base.embed_tokens  # the output of layer `layer`, before any norm
    hook = source.register_forward_hook(
        lambda module, args, output: captured.append(output[0] if isinstance(output, tuple) else output))
    try:
        order = sorted(range(len(ids)), key=lambda i: len(ids[i]))
        states: dict[int, torch.Tensor] = {}
        pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else 0
        starts = list(range(0, len(order), batch_size))[share[0]::share[1]]
        for start in tqdm(starts, desc=f"LLM states (layer {layer})", disable=not progress):
            chunk = order[start:start + batch_size]
            width = max(len(ids[i]) for i in chunk)
            batch = torch.full((len(chunk), width), pad, dtype=torch.long)
            mask = torch.zeros_like(batch)
            for b, i in enumerate(chunk):  # right padding: real tokens never attend to padding
                batch[b, :len(ids[i])] = torch.tensor(ids[i])
                mask[b, :len(ids[i])] = 1
            captured.clear()
            base(input_ids=batch.to(where), attention_mask=mask.to(where))
            hidden = captured[-1].to(torch.float16).cpu()  # (B, T, H)
            for b, i in enumerate(chunk):
                states[i] = hidden[b, :len(ids[i])]
    finally:
        hook.remove()
        base.layers = kept
    return states if share[1] > 1 else [states[i] for i in range(len(ids))]


@torch.no_grad()
def image_tokens(records: list[Record], root: str | Path, batch_size: int = 32, progress: bool = True,
                 cache: bool = True, encoder=None, vision: str = DEFAULT_VISION) -> torch.Tensor:
    """Frozen image feature tokens ``(N, tokens, dim + detail_dim)`` float16 of the records' images
    from the encoder ``vision`` names (:func:`posekit.encoders.vision.make_vision_encoder`; the default's is
    EfficientNet-lite0's 7 x 7 grid, row by row, ``(N, 49, 1280)``), cached under
    ``$POSEKIT_CACHE/states/`` keyed by the encoder and the image files' paths, sizes and
    modification times. Under a launcher with several processes the main process computes them
    (and writes the cache) while the others wait, then they read the cache."""
    if cache and distributed.launched():
        with distributed.main_first():
            return _image_tokens(records, root, batch_size, progress and distributed.is_main(), cache, encoder, vision)
    return _image_tokens(records, root, batch_size, progress, cache, encoder, vision)


def _image_tokens(records: list[Record], root: str | Path, batch_size: int, progress: bool, cache: bool, encoder,
                  vision: str) -> torch.Tensor:
    from tqdm.auto import tqdm

    paths = [Path(root) / r.image for r in records]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(f"{len(missing)} image(s) missing, e.g. {missing[0]}: rebuild the dataset "
                                "(`posekit build-data`)")
    # the default encoder keeps the key it had before encoders were named, so existing caches stay valid
    h = hashlib.sha256(b"efficientnet-lite0|49" if vision == DEFAULT_VISION else f"{vision}|v1".encode())
    for p in paths:
        stat = p.stat()
        h.update(f"{p.resolve()}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    path = cache_dir() / "states" / f"images-{h.hexdigest()[:24]}.safetensors"
    if cache and path.is_file():
        data = _read_cache(path, "image")
        if data is not None and len(data["tokens"]) == len(records):
            return data["tokens"]
    encoder = encoder or make_vision_encoder(vision)
    out = []
    for start in tqdm(range(0, len(paths), batch_size), desc="image tokens", disable=not progress):
        images = torch.stack([load_image(p) for p in paths[start:start + batch_size]])
        out.append(encoder(images).to(torch.float16))  # (b, tokens, dim + detail_dim)
    width = encoder.dim + getattr(encoder, "detail_dim", 0)
    tokens = torch.cat(out) if out else torch.zeros(0, encoder.tokens, width, dtype=torch.float16)
    if cache:
        from safetensors.torch import save_file

        with atomic_path(path) as tmp:
            save_file({"tokens": tokens.contiguous()}, str(tmp))
    return tokens
