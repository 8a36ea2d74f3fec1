"""The ChatPose model: a causal LLM that reads and writes 3D poses.

As in ChatPose (Feng et al., CVPR 2024), a special ``<POSE>`` token is added to the LLM; the
last-layer hidden state at each ``<POSE>`` of an answer goes through an MLP
(hidden -> hidden -> 24 x 6D, global orientation first) to SMPL pose parameters, and training adds
an L1 loss on rotation matrices (weight 0.1) to the language-modelling cross-entropy (weight 1.0).
The LLM is tuned with LoRA (peft); the vision encoder is frozen. Beyond ChatPose:

- every ``<POSE>`` of an answer gives a pose (ChatPose decodes only the last);
- ``<pose_in>`` placeholders in a user turn take a 3D pose as input (an MLP over 6D rotations into
  the embedding space), so the model can describe or edit a pose;
- ``<image>`` placeholders take an image: the frozen encoder's grid of feature tokens (49 for
  EfficientNet-lite0) goes through a trainable projector, LLaVA style;
- an optional joint-position loss through posekit's forward kinematics;
- an optional attending head (``pose_head="attend"``): the ``<POSE>`` state also attends over the
  states of the tokens before it, read at a chosen layer (``head_layer``); measured in the README;
- half-precision inference (:meth:`ChatPose.set_dtype`): float16 weights halve the bytes read per
  generated token, which is what bounds generation speed on a CPU.

The base LLM's weights are never changed or saved: the new tokens get their own embedding rows
and output logits, so a checkpoint holds only the trained parts (LoRA, head, encoders, token rows)
and the configuration (:meth:`ChatPose.save` / :meth:`ChatPose.load`).
"""
from __future__ import annotations

import dataclasses
import json
import os
import shutil
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from posekit.conversations import IMAGE_TOKEN, POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.llm import DEFAULT_BACKBONE, load_backbone
from posekit.paths import AssetNotFoundError, data_dir, resolve_file
from posekit.rotations import rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rot6d, rotvec_to_rotmat
from posekit.skeleton import NUM_JOINTS

__all__ = ["ChatPoseConfig", "ChatPose", "Batch", "Answer", "CheckpointError", "PoseHead", "PoseEncoder",
           "AttendPoseHead", "HalfWeightLinear", "load_chatpose", "default_checkpoint_dir", "SPECIAL_TOKENS", "POSE_HEADS",
           "DTYPES"]

SPECIAL_TOKENS = (POSE_TOKEN, POSE_IN_TOKEN, IMAGE_TOKEN)
POSE_HEADS = ("mlp", "attend")
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}
FORMAT_VERSION = 1
_WEIGHTS = "trained.safetensors"
_CONFIG = "config.json"


class CheckpointError(RuntimeError):
    """A ChatPose checkpoint is missing, corrupt or does not match the model being loaded."""


@dataclasses.dataclass
class ChatPoseConfig:
    """Everything needed to rebuild a ChatPose model (saved inside every checkpoint)."""

    backbone: str = DEFAULT_BACKBONE
    """LLM: ``"smollm2-135m"``, a local Hugging Face model folder, or a cached hub name."""
    vision_encoder: str | None = "efficientnet-lite0"
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
    state also attends over the states of every token before it (see :class:`AttendPoseHead`)."""
    head_layer: int = -1
    """Which hidden states the head reads: -1 the last layer (ChatPose), k the output of layer k."""
    system_prompt: str = "You are ChatPose. You understand 3D human poses."
    """Replaces the records' system turns (short: every token costs training time on a CPU)."""

    def __post_init__(self) -> None:
        if self.pose_head not in POSE_HEADS:
            raise ValueError(f"pose_head must be one of {POSE_HEADS}, got {self.pose_head!r}")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @staticmethod
    def from_dict(values: dict) -> "ChatPoseConfig":
        known = {f.name for f in dataclasses.fields(ChatPoseConfig)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise CheckpointError(f"unknown ChatPoseConfig fields {unknown}: the checkpoint is from a newer posekit")
        values = dict(values)
        if "lora_targets" in values:
            values["lora_targets"] = tuple(values["lora_targets"])
        return ChatPoseConfig(**values)


class PoseHead(nn.Module):
    """``(..., H)`` hidden state -> ``(..., 24, 6)`` 6D rotations (ChatPose's MLP: H -> H -> 144)."""

    def __init__(self, hidden: int):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, NUM_JOINTS * 6))

    def reset_to(self, pose: torch.Tensor) -> None:
        """Start from ``pose`` ``(24, 3)``: small output weights, bias at its 6D rotations (a zero
        start settles on poses with joints flipped by 180 degrees)."""
        with torch.no_grad():
            self.net[-1].weight.mul_(0.01)
            self.net[-1].bias.copy_(rotvec_to_rot6d(pose.reshape(NUM_JOINTS, 3)).reshape(-1))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden).reshape(*hidden.shape[:-1], NUM_JOINTS, 6)


class AttendPoseHead(nn.Module):
    """The ``<POSE>`` state ``(P, H)`` attends over the states before it ``(P, T, H)`` (multi-head,
    one query), and an MLP maps [state, pooled] to ``(P, 24, 6)``.

    Beyond ChatPose: a small LLM trained briefly routes little of the request into the single
    ``<POSE>`` state; reading the request's token states directly gives the pose loss a short path
    to them (measured in the README)."""

    def __init__(self, hidden: int, heads: int = 4, head_dim: int = 64):
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.norm = nn.LayerNorm(hidden)
        self.query, self.key, self.value = (nn.Linear(hidden, heads * head_dim) for _ in range(3))
        self.net = nn.Sequential(nn.Linear(hidden + heads * head_dim, hidden), nn.ReLU(),
                                 nn.Linear(hidden, NUM_JOINTS * 6))

    reset_to = PoseHead.reset_to

    def forward(self, query: torch.Tensor, context: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """``query (P, H)``, ``context (P, T, H)``, ``mask (P, T)`` bool (True: attend) -> ``(P, 24, 6)``."""
        query, context = self.norm(query), self.norm(context)
        p, t, _ = context.shape
        q = self.query(query).view(p, 1, self.heads, self.head_dim)
        k = self.key(context).view(p, t, self.heads, self.head_dim)
        v = self.value(context).view(p, t, self.heads, self.head_dim)
        weights = ((q * k).sum(-1) / self.head_dim ** 0.5).masked_fill(~mask[..., None], float("-inf")).softmax(1)
        pooled = (weights[..., None] * v).sum(1).flatten(1)  # (P, heads * head_dim)
        return self.net(torch.cat([query, pooled], -1)).reshape(p, NUM_JOINTS, 6)


class HalfWeightLinear(nn.Module):
    """A frozen linear layer ``(..., in) -> (..., out)`` whose weight is stored in half precision,
    for CPU inference; input and output keep their dtype (float32).

    Products of at most ``gemv_rows`` rows (one new token per sequence while generating) multiply
    in half precision: they are bound by reading the weight, so half the bytes is about twice the
    speed. Larger ones (prompts) upcast ``chunk`` output rows at a time and multiply in float32,
    since CPUs without half-precision arithmetic run those several times slower in float16
    (measured in the README's Benchmarks)."""

    def __init__(self, linear: nn.Linear, dtype: torch.dtype = torch.float16, gemv_rows: int = 4, chunk: int = 4096):
        super().__init__()
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.gemv_rows, self.chunk = gemv_rows, chunk
        self.register_buffer("weight", linear.weight.detach().to(dtype).contiguous())
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().float())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() // self.in_features <= self.gemv_rows:
            out = F.linear(x.to(self.weight.dtype), self.weight).to(x.dtype)
        elif self.out_features <= self.chunk:
            out = F.linear(x, self.weight.to(x.dtype))
        else:
            out = torch.cat([F.linear(x, self.weight[i:i + self.chunk].to(x.dtype))
                             for i in range(0, self.out_features, self.chunk)], -1)
        return out if self.bias is None else out + self.bias.to(out.dtype)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, weight={self.weight.dtype}"


class PoseEncoder(nn.Module):
    """``(N, 24, 3)`` axis-angle -> ``(N, tokens, H)`` embedding-space tokens (MLP over 6D rotations)."""

    def __init__(self, hidden: int, tokens: int = 1):
        super().__init__()
        self.tokens = tokens
        self.net = nn.Sequential(nn.Linear(NUM_JOINTS * 6, hidden), nn.GELU(), nn.Linear(hidden, hidden * tokens))

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        x = rotvec_to_rot6d(poses.reshape(-1, NUM_JOINTS, 3)).reshape(-1, NUM_JOINTS * 6)
        return self.net(x).reshape(x.shape[0], self.tokens, -1)


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


@dataclasses.dataclass
class Answer:
    """One generated answer: its text and the poses of its ``<POSE>`` tokens."""

    text: str
    poses: torch.Tensor  # (P, 24, 3) axis-angle, global orientation first
    token_ids: list[int]


class ChatPose(nn.Module):
    """LLM + ``<POSE>`` head + pose and image inputs. Build with a config (the backbone loads offline)
    or pass ``backbone=(model, tokenizer)`` (tests use a tiny random model)."""

    name = "chatpose"

    def __init__(self, config: ChatPoseConfig | None = None, backbone=None, vision=None):
        super().__init__()
        from peft import LoraConfig, get_peft_model

        config = config or ChatPoseConfig()
        self.config = config
        llm, tokenizer = backbone if backbone is not None else load_backbone(config.backbone)
        self.base_vocab = llm.get_input_embeddings().num_embeddings
        self.hidden = llm.config.hidden_size
        tokenizer.add_tokens(list(SPECIAL_TOKENS), special_tokens=True)
        self.tokenizer = tokenizer
        self.token_ids = {t: tokenizer.convert_tokens_to_ids(t) for t in SPECIAL_TOKENS}
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token
        lora = LoraConfig(r=config.lora_rank, lora_alpha=config.lora_alpha, lora_dropout=config.lora_dropout,
                          target_modules=list(config.lora_targets), bias="none")
        self.llm = get_peft_model(llm, lora)
        embed = llm.get_input_embeddings().weight
        self.token_embed = nn.Parameter(embed.detach().mean(0, keepdim=True).repeat(len(SPECIAL_TOKENS), 1).clone())
        self.token_logit = nn.Parameter(torch.zeros(len(SPECIAL_TOKENS), self.hidden))
        self.pose_head = PoseHead(self.hidden) if config.pose_head == "mlp" else AttendPoseHead(self.hidden)
        layers = llm.config.num_hidden_layers
        if not -1 <= config.head_layer <= layers:
            raise ValueError(f"head_layer must be -1 (last) or 0..{layers} for this backbone, got {config.head_layer}")
        self.pose_encoder = PoseEncoder(self.hidden, config.pose_in_tokens)
        if vision is None and config.vision_encoder:
            from posekit.vision import make_vision_encoder

            vision = make_vision_encoder(config.vision_encoder)
        self.vision = vision
        if vision is not None:
            self.image_projector = nn.Sequential(nn.Linear(vision.dim, self.hidden), nn.GELU(),
                                                 nn.Linear(self.hidden, self.hidden))
        self._body = None

    # ----------------------------------------------------------------------------------- parts
    @property
    def decoder(self) -> nn.Module:
        """The transformer stack (LoRA inside) returning last-layer hidden states."""
        return self.llm.get_base_model().model

    @property
    def device(self) -> torch.device:
        return self.token_embed.device

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the LLM, head and encoders compute in (float32 unless :meth:`set_dtype`)."""
        return self.token_embed.dtype

    def set_dtype(self, dtype: torch.dtype | str, weights_only: bool | None = None) -> "ChatPose":
        """Prepare the model for half-precision inference (``"float16"`` or ``"bfloat16"``; poses
        come out in float32 either way; train in float32, or with accelerate's ``mixed_precision``).

        ``weights_only=False`` casts everything but the frozen vision encoder (its features are
        cast): the usual choice on a GPU. ``weights_only=True`` (the default on a CPU) only stores
        the LLM's frozen linear weights in ``dtype`` (:class:`HalfWeightLinear`, LoRA merged into
        them first), halving the bytes read per generated token, while activations, norms,
        attention and the trained parts stay float32: CPUs multiply single rows fast in half
        precision but whole prompts slowly. Such a model is for inference only."""
        if isinstance(dtype, str):
            if dtype not in DTYPES:
                raise ValueError(f"unknown dtype {dtype!r}: use one of {sorted(DTYPES)}")
            dtype = DTYPES[dtype]
        if dtype not in DTYPES.values():
            raise ValueError(f"unsupported dtype {dtype}: use one of {sorted(DTYPES)}")
        if weights_only is None:
            weights_only = self.device.type == "cpu"
        if not weights_only:
            self.to(dtype)
            if self.vision is not None:
                self.vision.float()
            return self
        if dtype == torch.float32:
            return self
        self.llm.merge_adapter()  # LoRA folded into the weights: fewer products per token
        llm = self.llm.get_base_model()
        for parent in list(llm.modules()):
            for name, child in list(parent.named_children()):
                if type(child) is nn.Linear and not child.weight.requires_grad:  # LoRA's own layers stay
                    setattr(parent, name, HalfWeightLinear(child, dtype))
        return self

    @property
    def inference_only(self) -> bool:
        """True after :meth:`set_dtype` to half precision (LoRA merged or weights cast): such a
        model cannot be trained; load the checkpoint again in float32 for that."""
        return self.dtype != torch.float32 or any(isinstance(m, HalfWeightLinear) for m in self.llm.modules())

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Exactly the trained parts: LoRA, token rows, head, pose encoder, image projector."""
        return {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}

    def init_pose_head(self, records: list[Record]) -> None:
        """Start the head at the mean target pose of ``records`` (rotation average per joint)."""
        from posekit.baselines import MeanPose

        self.pose_head.reset_to(MeanPose().fit([r for r in records if r.target_poses]).pose)

    # ------------------------------------------------------------------------------ tokenising
    def _segments(self, messages: list[dict], add_generation_prompt: bool) -> list[tuple[str, bool]]:
        """The chat-template text cut into ``(text, is_answer)`` pieces, whatever the template."""
        tok = self.tokenizer
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

    def _tokenise(self, record: Record, add_generation_prompt: bool) -> tuple[list[int], list[int]]:
        ids, labels = [], []
        messages = [m for m in record.messages if m["role"] != "system"]
        if self.config.system_prompt:
            messages = [{"role": "system", "content": self.config.system_prompt}, *messages]
        for text, answer in self._segments(messages, add_generation_prompt):
            piece = self.tokenizer(text, add_special_tokens=False)["input_ids"]
            ids += piece
            labels += piece if answer else [-100] * len(piece)
        if self.token_ids[IMAGE_TOKEN] in ids and self.vision is None:
            raise ValueError(f"{record.id}: has an image but the model has no vision encoder")
        if self.vision is not None:
            ids, labels = _expand(ids, labels, self.token_ids[IMAGE_TOKEN], self.vision.tokens)
        return _expand(ids, labels, self.token_ids[POSE_IN_TOKEN], self.config.pose_in_tokens)

    def prompt_length(self, record: Record) -> int:
        """Tokens the model would read to answer ``record`` (image and pose tokens included)."""
        return len(self._tokenise(record, add_generation_prompt=True)[0])

    def prompt_record(self, record: Record) -> Record:
        """The record cut before its first answer holding a ``<POSE>``, else before its last answer
        (what a user would have sent)."""
        answers = [k for k, m in enumerate(record.messages) if m["role"] == "assistant"]
        if not answers:
            raise ValueError(f"{record.id}: has no assistant turn to answer")
        posing = [k for k in answers if POSE_TOKEN in record.messages[k]["content"]]
        cut = posing[0] if posing else answers[-1]
        kept_in = sum(m["content"].count(POSE_IN_TOKEN) for m in record.messages[:cut])
        return dataclasses.replace(record, messages=record.messages[:cut], target_poses=[],
                                   input_poses=record.input_poses[:kept_in], meta={})

    def collate(self, records: list[Record], root: Path | None = None, generation: bool = False) -> Batch:
        """Records -> a padded :class:`Batch` (right padding for training, left for generation).

        Sequences longer than ``config.max_length`` keep their last tokens for generation and their
        first for training; a ``<POSE>`` cut off loses its target."""
        from posekit.vision import load_image

        encoded = [self._tokenise(r, add_generation_prompt=generation) for r in records]
        limit = self.config.max_length
        encoded = [(i[-limit:], l[-limit:]) if generation else (i[:limit], l[:limit]) for i, l in encoded]
        width = max(len(i) for i, _ in encoded)
        pad = self.tokenizer.pad_token_id
        ids = torch.full((len(records), width), pad, dtype=torch.long)
        labels = torch.full_like(ids, -100)
        mask = torch.zeros_like(ids)
        for b, (i, l) in enumerate(encoded):
            cols = slice(width - len(i), width) if generation else slice(0, len(i))
            ids[b, cols], labels[b, cols], mask[b, cols] = torch.tensor(i), torch.tensor(l), 1
        special = lambda token: (ids == self.token_ids[token]) & (mask == 1)  # noqa: E731
        pose_pos, pose_in_pos, image_pos = (special(t).nonzero() for t in SPECIAL_TOKENS)
        targets, inputs = [], []
        for b, record in enumerate(records):  # the poses whose placeholders survived the cut
            targets += record.target_poses[:int((pose_pos[:, 0] == b).sum())]
            kept = int((pose_in_pos[:, 0] == b).sum()) // self.config.pose_in_tokens
            inputs += (record.input_poses[len(record.input_poses) - kept:] if generation else record.input_poses[:kept])
        images = [load_image(Path(root or ".") / r.image if isinstance(r.image, str) else r.image)
                  for b, r in enumerate(records) if r.image is not None and (image_pos[:, 0] == b).any()]
        tokens = self.vision.tokens if self.vision is not None else 1
        if len(images) * tokens != len(image_pos):
            raise ValueError("each record may hold one whole <image> (raise max_length if it was cut off)")
        as_poses = lambda poses: torch.tensor(poses, dtype=torch.float32).reshape(-1, NUM_JOINTS, 3)  # noqa: E731
        return Batch(ids, mask, labels, pose_pos, as_poses(targets), pose_in_pos, as_poses(inputs), image_pos,
                     torch.stack(images) if images else torch.zeros(0, 3, 224, 224))

    # ------------------------------------------------------------------------------- forward
    def embed_ids(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` token ids -> ``(B, T, H)``; the new tokens use their own trainable rows."""
        base = self.llm.get_input_embeddings()(ids.clamp(max=self.base_vocab - 1))
        extra = torch.full_like(ids, -1)
        for k, token in enumerate(SPECIAL_TOKENS):
            extra[ids == self.token_ids[token]] = k
        return torch.where((extra >= 0)[..., None], self.token_embed[extra.clamp(min=0)], base)

    def embed(self, batch: Batch) -> torch.Tensor:
        """``(B, T, H)`` input embeddings with placeholders replaced by their inputs."""
        embeds = self.embed_ids(batch.input_ids)
        if len(batch.pose_in_positions):
            rows, cols = batch.pose_in_positions.T
            poses = batch.input_poses.to(self.dtype)
            embeds = embeds.index_put((rows, cols), self.pose_encoder(poses).reshape(-1, self.hidden))
        if len(batch.image_positions):
            rows, cols = batch.image_positions.T
            projected = self.image_projector(self.vision(batch.images).to(self.dtype))  # (I, tokens, H)
            embeds = embeds.index_put((rows, cols), projected.reshape(-1, self.hidden))
        return embeds

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """``(..., H)`` -> ``(..., V')`` over the base vocabulary plus the new tokens."""
        base = self.llm.get_base_model().lm_head(hidden)
        new = hidden @ self.token_logit.T
        width = max(base.shape[-1], max(self.token_ids.values()) + 1)
        if width > base.shape[-1]:
            base = F.pad(base, (0, width - base.shape[-1]), value=torch.finfo(base.dtype).min)
        return base.index_copy(-1, torch.tensor(list(self.token_ids.values()), device=base.device), new)

    def decode_poses(self, states: torch.Tensor, mask: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor) -> torch.Tensor:
        """Rotation matrices ``(P, 24, 3, 3)`` of the ``<POSE>`` tokens at ``(rows, cols)``, from the
        head's hidden states ``states (B, T, H)`` (``mask (B, T)``: real tokens)."""
        query = states[rows, cols]
        if self.config.pose_head == "mlp":
            return rot6d_to_rotmat(self.pose_head(query).float())
        before = torch.arange(states.shape[1], device=states.device)[None] <= cols[:, None]
        return rot6d_to_rotmat(self.pose_head(query, states[rows], mask[rows].bool() & before).float())

    def _head_states(self, out) -> torch.Tensor:
        return out.last_hidden_state if self.config.head_layer == -1 else out.hidden_states[self.config.head_layer]

    def _hidden(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Last-layer hidden states ``(B, T, H)`` and the head's (the same tensor unless
        ``config.head_layer`` picks another layer) of a whole batch (no cache)."""
        out = self.decoder(inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask,
                           output_hidden_states=self.config.head_layer != -1)
        return out.last_hidden_state, self._head_states(out)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Training forward: ``{"loss", "ce", "rotmat", "joint", "rotmats"}`` (scalars, and ``(P, 24, 3, 3)``)."""
        hidden, states = self._hidden(batch)
        zero = hidden.sum() * 0
        ce = zero
        answer = batch.labels[:, 1:] != -100
        if answer.any():
            logits = self.logits(hidden[:, :-1][answer])  # only where an answer token is predicted
            ce = F.cross_entropy(logits, batch.labels[:, 1:][answer])
        rot_loss = joint_loss = zero
        rotmats = hidden.new_zeros(0, NUM_JOINTS, 3, 3)
        if len(batch.pose_positions):
            rows, cols = batch.pose_positions.T
            rotmats = self.decode_poses(states, batch.attention_mask, rows, cols)
            target = rotvec_to_rotmat(batch.target_poses)
            rot_loss = (rotmats - target).abs().mean()
            if self.config.joint_weight > 0:
                joint_loss = self._joint_l1(rotmats, target)
        c = self.config
        loss = c.ce_weight * ce + c.rotmat_weight * rot_loss + c.joint_weight * joint_loss
        return {"loss": loss, "ce": ce.detach(), "rotmat": rot_loss.detach(), "joint": joint_loss.detach(),
                "rotmats": rotmats}

    def _joint_l1(self, rotmats: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._body is None:
            from posekit.body import load_body_model

            self._body = [load_body_model(device=rotmats.device)]  # a list: kept out of the state dict
        body = self._body[0]
        pred = body(rotmats[:, 0], rotmats[:, 1:], joints_only=True).joints
        with torch.no_grad():
            goal = body(target[:, 0], target[:, 1:], joints_only=True).joints
        return ((pred - pred[:, :1]) - (goal - goal[:, :1])).abs().mean()

    # ---------------------------------------------------------------------------- generation
    @torch.no_grad()
    def generate(self, records: list[Record], root: Path | None = None, max_new_tokens: int = 96,
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
        was_training = self.training
        self.eval()
        batch = self.collate(records, root, generation=True).to(self.device)
        mask = batch.attention_mask
        position = (mask.cumsum(1) - 1).clamp(min=0)
        layered = self.config.head_layer != -1
        out = self.decoder(inputs_embeds=self.embed(batch), attention_mask=mask, position_ids=position, use_cache=True,
                           output_hidden_states=layered)
        cache, last, position = out.past_key_values, out.last_hidden_state[:, -1], position[:, -1:]
        # the head's states of every token so far (only the attending head reads beyond the last)
        states = [self._head_states(out)] if self.config.pose_head == "attend" else []
        eos = torch.tensor(sorted({self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|im_end|>")} - {None}),
                           device=self.device)
        n, pose_id = len(records), self.token_ids[POSE_TOKEN]
        tokens: list[list[int]] = [[] for _ in range(n)]
        poses: list[list[torch.Tensor]] = [[] for _ in range(n)]
        done = torch.zeros(n, dtype=torch.bool, device=self.device)
        for _ in range(max_new_tokens):
            logits = self.logits(last).float()
            if no_repeat_ngram_size:
                _ban_repeats(logits, tokens, no_repeat_ngram_size, done)
            choice = _sample(logits, temperature, top_p, generator) if do_sample else logits.argmax(-1)
            choice = torch.where(done, self.tokenizer.pad_token_id, choice)
            live = ~done
            for b in live.nonzero().flatten().tolist():
                tokens[b].append(int(choice[b]))
            done = done | torch.isin(choice, eos)
            mask = torch.cat([mask, live[:, None].long()], 1)
            position = position + 1
            out = self.decoder(inputs_embeds=self.embed_ids(choice[:, None]), attention_mask=mask,
                               position_ids=position, past_key_values=cache, use_cache=True,
                               output_hidden_states=layered)
            cache, last = out.past_key_values, out.last_hidden_state[:, -1]
            if states:
                states.append(self._head_states(out))
            wrote_pose = live & (choice == pose_id)
            if wrote_pose.any():
                rows = wrote_pose.nonzero().flatten()
                seen = torch.cat(states, 1) if states else self._head_states(out)  # (B, T or 1, H)
                rotmats = self.decode_poses(seen, mask[:, -seen.shape[1]:], rows, torch.full_like(rows, seen.shape[1] - 1))
                for k, b in enumerate(rows.tolist()):
                    poses[b].append(rotmats[k])
                    if max_poses is not None and len(poses[b]) >= max_poses:
                        done[b] = True
            if done.all():
                break
        self.train(was_training)
        answers, ends = [], set(eos.tolist())
        for b in range(n):
            ids = [t for t in tokens[b] if t not in ends]
            stack = torch.stack(poses[b]) if poses[b] else torch.zeros(0, NUM_JOINTS, 3, 3, device=self.device)
            answers.append(Answer(self.tokenizer.decode(ids), rotmat_to_rotvec(stack).cpu(), ids))
        return answers

    @torch.no_grad()
    def forced_pose(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        """``(N, 24, 3)``: the pose at a ``<POSE>`` appended as the whole answer (teacher forcing)."""
        answered = [dataclasses.replace(r, messages=[*r.messages, {"role": "assistant", "content": POSE_TOKEN}],
                                        target_poses=[[[0.0] * 3] * NUM_JOINTS]) for r in records]
        was_training = self.training
        self.eval()
        batch = self.collate(answered, root).to(self.device)
        _, states = self._hidden(batch)
        rows, cols = batch.pose_positions.T
        self.train(was_training)
        return rotmat_to_rotvec(self.decode_poses(states, batch.attention_mask, rows, cols)).cpu()

    # ----------------------------------------------------------------- evaluation interface
    def fit(self, records: list[Record], root: Path | None = None) -> "ChatPose":
        """Already trained models are used as they are (train with :func:`posekit.train.train`)."""
        return self

    def predict(self, records: list[Record], root: Path | None = None, batch_size: int = 16,
                progress: bool = False, max_new_tokens: int = 160, no_repeat_ngram_size: int = 0) -> torch.Tensor:
        """``(N, 24, 3)``: the first pose the model writes for each record's request (within
        ``max_new_tokens``: room for a description first; the answer stops there). A model that
        writes no ``<POSE>`` gets one appended (counted in ``self.missing_poses``).
        ``no_repeat_ngram_size``: see :meth:`generate`."""
        from tqdm.auto import tqdm

        prompts = [self.prompt_record(r) for r in records]
        order = sorted(range(len(prompts)), key=lambda i: len(str(prompts[i].messages)))
        out = torch.zeros(len(records), NUM_JOINTS, 3)
        self.missing_poses = 0
        for start in tqdm(range(0, len(order), batch_size), desc="chatpose", disable=not progress):
            chunk = order[start:start + batch_size]
            answers = self.generate([prompts[i] for i in chunk], root, max_new_tokens=max_new_tokens, max_poses=1,
                                    no_repeat_ngram_size=no_repeat_ngram_size)
            missing = [i for i, a in zip(chunk, answers) if len(a.poses) == 0]
            for i, a in zip(chunk, answers):
                if len(a.poses):
                    out[i] = a.poses[0]
            if missing:
                self.missing_poses += len(missing)
                out[missing] = self.forced_pose([prompts[i] for i in missing], root)
        return out

    # ------------------------------------------------------------------------ save and load
    def save(self, path: str | os.PathLike, extra: dict | None = None, dtype: torch.dtype | None = None) -> Path:
        """Write the trained parts and the config to folder ``path`` (atomically replaced).

        ``dtype=torch.float16`` halves the file (for shipping); loading casts back to the model's."""
        from safetensors.torch import save_file

        path = Path(path)
        tmp = path.with_name(path.name + f".tmp-{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        save_file({k: v.to(dtype or v.dtype).contiguous().cpu() for k, v in self.trainable_state().items()}, tmp / _WEIGHTS)
        meta = {"format_version": FORMAT_VERSION, "config": self.config.to_dict(), "backbone": self.fingerprint(),
                "token_ids": self.token_ids, **(extra or {})}
        (tmp / _CONFIG).write_text(json.dumps(meta, indent=2))
        if path.exists():
            old = path.with_name(path.name + f".old-{os.getpid()}")
            os.replace(path, old)
            os.replace(tmp, path)
            shutil.rmtree(old)
        else:
            os.replace(tmp, path)
        return path

    def fingerprint(self) -> dict:
        c = self.llm.get_base_model().config
        return {"model_type": c.model_type, "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
                "vocab_size": self.base_vocab}

    @staticmethod
    def read_meta(path: str | os.PathLike) -> dict:
        path = Path(path)
        if not (path / _CONFIG).is_file() or not (path / _WEIGHTS).is_file():
            raise CheckpointError(f"{path} is not a ChatPose checkpoint: it needs {_CONFIG} and {_WEIGHTS}")
        try:
            meta = json.loads((path / _CONFIG).read_text())
        except json.JSONDecodeError as err:
            raise CheckpointError(f"{path / _CONFIG} is corrupt: {err}") from err
        if meta.get("format_version") != FORMAT_VERSION:
            raise CheckpointError(f"{path} has format version {meta.get('format_version')}, this posekit reads {FORMAT_VERSION}")
        return meta

    @classmethod
    def load(cls, path: str | os.PathLike, backbone=None, vision=None, device=None,
             dtype: torch.dtype | str | None = None) -> "ChatPose":
        """Rebuild a saved model: the backbone named in its config (or ``backbone=(model, tokenizer)``)
        plus its trained parts. Any mismatch raises :class:`CheckpointError` naming it. ``dtype``:
        see :meth:`set_dtype` (None keeps float32)."""
        meta = cls.read_meta(path)
        model = cls(ChatPoseConfig.from_dict(meta["config"]), backbone=backbone, vision=vision)
        model.load_trained(path, meta)
        if device is not None:
            model.to(device)
        return model.set_dtype(dtype) if dtype is not None else model

    def load_trained(self, path: str | os.PathLike, meta: dict | None = None, strict: bool = True) -> list[str]:
        """Copy a checkpoint's trained parts into this model. ``strict=False`` (start a run from
        another run's parts) loads the parts both have with the same shapes and returns the names of
        this model's trained parts it left at their initial values."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        path = Path(path)
        meta = meta or self.read_meta(path)
        mismatched = {k: (v, meta["backbone"].get(k)) for k, v in self.fingerprint().items() if meta["backbone"].get(k) != v}
        if mismatched:
            details = ", ".join(f"{k}: checkpoint {b!r} vs backbone {a!r}" for k, (a, b) in mismatched.items())
            raise CheckpointError(f"{path} was trained on another backbone ({details})")
        if meta["token_ids"] != self.token_ids:
            raise CheckpointError(f"{path}: special token ids {meta['token_ids']} differ from the tokenizer's {self.token_ids}")
        try:
            state = load_file(path / _WEIGHTS)
        except (SafetensorError, OSError) as err:
            raise CheckpointError(f"{path / _WEIGHTS} is corrupt or truncated: {err}") from err
        own = dict(self.named_parameters())
        expected = set(self.trainable_state())
        missing, unexpected = sorted(expected - set(state)), sorted(set(state) - expected)
        shapes = [f"{k}: {tuple(state[k].shape)} vs {tuple(own[k].shape)}" for k in expected & set(state)
                  if state[k].shape != own[k].shape]
        if not strict:
            state = {k: v for k, v in state.items() if k in expected and v.shape == own[k].shape}
        elif missing or unexpected or shapes:
            raise CheckpointError(f"{path} does not match this model: missing {missing[:5]}{'...' if len(missing) > 5 else ''}, "
                                  f"unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}, shapes {shapes[:5]}")
        with torch.no_grad():
            for k, v in state.items():
                own[k].copy_(v)
        return sorted(expected - set(state))


def _expand(ids: list[int], labels: list[int], token: int, n: int) -> tuple[list[int], list[int]]:
    """Repeat each ``token`` ``n`` times (one position per encoder token), never as a label."""
    if n == 1 or token not in ids:
        return ids, labels
    out_ids, out_labels = [], []
    for i, label in zip(ids, labels, strict=True):
        out_ids += [i] * n if i == token else [i]
        out_labels += [-100] * n if i == token else [label]
    return out_ids, out_labels


def check_no_repeat_ngram_size(n: int) -> None:
    """Refuse a negative repetition guard (0 turns it off), before any work is done."""
    if n < 0:
        raise ValueError(f"no_repeat_ngram_size must be >= 0 (0 turns it off), got {n}")


def _ban_repeats(logits: torch.Tensor, tokens: list[list[int]], n: int, done: torch.Tensor) -> None:
    """Set to ``-inf`` (in place) each row's logits of tokens that would end an ``n``-gram already in
    ``tokens[row]`` (the row's answer so far); ``logits`` is ``(B, V)``."""
    for b, seq in enumerate(tokens):
        if done[b] or len(seq) < n:
            continue
        prefix = tuple(seq[len(seq) - n + 1:]) if n > 1 else ()
        banned = {seq[i + n - 1] for i in range(len(seq) - n + 1) if tuple(seq[i:i + n - 1]) == prefix}
        if banned:
            logits[b, sorted(banned)] = float("-inf")


def _sample(logits: torch.Tensor, temperature: float, top_p: float, generator) -> torch.Tensor:
    probs = torch.softmax(logits / max(temperature, 1e-5), -1)
    sorted_probs, order = probs.sort(-1, descending=True)
    keep = sorted_probs.cumsum(-1) - sorted_probs < top_p
    sorted_probs = sorted_probs * keep
    pick = torch.multinomial(sorted_probs / sorted_probs.sum(-1, keepdim=True), 1, generator=generator)
    return order.gather(-1, pick)[:, 0]


def default_checkpoint_dir(path: str | os.PathLike | None = None) -> Path:
    """The ChatPose checkpoint folder: ``path`` > ``$POSEKIT_CHECKPOINTS/chatpose`` > ``data/checkpoints/chatpose``."""
    config = resolve_file(_CONFIG, path=path, env_var="POSEKIT_CHECKPOINTS",
                          defaults=(data_dir() / "checkpoints",), subdirs=("chatpose", ""), what="ChatPose checkpoint",
                          hint="Train one with `posekit train` or point to a folder holding config.json and trained.safetensors.")
    return config.parent


def load_chatpose(path: str | os.PathLike | None = None, device=None, dtype: torch.dtype | str | None = None) -> ChatPose:
    """The shipped (or given) trained ChatPose model, ready to chat (``dtype``: see
    :meth:`ChatPose.set_dtype`; None keeps float32, as the evaluation numbers were measured)."""
    try:
        folder = default_checkpoint_dir(path)
    except AssetNotFoundError as err:
        raise CheckpointError(str(err)) from err
    return ChatPose.load(folder, device=device, dtype=dtype)
