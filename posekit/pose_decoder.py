"""A pose decoder over frozen LLM token states: the request's states, read directly.

Five sessions of short LoRA runs showed that a 135M LLM trained for an hour routes almost
nothing of the request into ChatPose's single ``<POSE>`` state; the frozen model's token
states at a middle layer, however, hold what the request says (README, "reading the
request"). This decoder reads them directly:

- **memory**: the request's token states at layer ``L`` (:mod:`posekit.states`, standardised
  and projected to ``width``), plus, for edit requests, the input pose as 24 per-joint tokens
  (6D rotation + a learned joint embedding), plus, for image requests, the frozen image
  encoder's 7 x 7 feature tokens (projected, with learned 2D positions):
  ``(B, T [+ 24] [+ 49], width)`` with padding masked; optionally (``grounding=True``) the
  image tokens are marked by a map of where the asked-for person is, computed from the request
  and trained against that person's 2D joints;
- **queries**: 24 learned joint queries plus a learned embedding of the pose's index in the
  answer (first, second pose), ``(B, 24, width)``;
- a pre-norm transformer decoder (self-attention between joints, cross-attention to the memory);
- **output**: a 6D rotation per joint added to the mean training pose's, from a zero-initialised
  layer, so that training starts at the mean pose.

Training (:func:`train_pose_decoder`) runs on cached states only, so it takes minutes per
epoch on 2 CPU cores, and keeps the epoch with the best validation loss.
"""
from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from posekit.conversations import Record
from posekit.rotations import rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rot6d, rotvec_to_rotmat
from posekit.skeleton import NUM_JOINTS
from posekit.vision import DEFAULT_VISION

__all__ = ["PoseDecoderConfig", "PoseDecoder", "DecoderTrainConfig", "StatePoseModel", "train_pose_decoder",
           "fit_state_decoder", "DECODER_TASKS", "target_keypoints", "grounding_target", "image_side", "pose_loss",
           "aligned_image_tokens", "decode_requests", "attach_to_chatpose", "joint_loss", "decoder_recipe",
           "stage_record", "parse_task_repeats", "held_out_halves", "CONFIDENCE", "GROWABLE"]


GROWABLE = ("image_layers", "image_text_layers", "confidence")
"""Parts of :class:`PoseDecoderConfig` that a later stage may add to a trained decoder (they
start as the identity): a decoder without them grows them, one with them keeps them."""
CONFIDENCE = ("none", "pose", "joint")
"""What :attr:`PoseDecoderConfig.confidence` may name: no gate, one factor per answer, one per joint."""


@dataclasses.dataclass(frozen=True)
class PoseDecoderConfig:
    """Architecture of :class:`PoseDecoder` (saved with it)."""

    state_dim: int = 576
    """Width of the LLM states it reads (SmolLM2-135M: 576)."""
    width: int = 256
    layers: int = 2
    heads: int = 4
    dropout: float = 0.1
    max_poses: int = 4
    """Poses per answer it can tell apart (index embeddings)."""
    image_dim: int = 1280
    """Width of the image feature tokens (EfficientNet-lite0: 1280)."""
    image_tokens: int = 49
    """Image feature tokens per image (EfficientNet-lite0 at 224 px: 7 x 7)."""
    image_detail_dim: int = 0
    """Width of the detail features appended to each image token (``efficientnet-lite0-detail``:
    its 2 x 2 sub-cells of 155 values, read as 4 more memory tokens per image token); 0: none."""
    grounding: bool = False
    """Ground the request in the image before decoding: an attention-pooling of the request's
    states scores every image token (:meth:`PoseDecoder.grounding`), and each token gets a
    learned "asked for" embedding in proportion to its score, so that the joint queries can
    tell the asked-for person's tokens from everyone else's. Trained against where that
    person's joints lie (:attr:`DecoderTrainConfig.grounding_weight`)."""
    image_layers: int = 0
    """Transformer encoder layers over the image tokens alone (self-attention among them,
    before the joint queries read them): more capacity in the image path, which only image
    requests reach. Their residual branches start at zero, so adding them to a trained decoder
    (:func:`train_pose_decoder`'s ``init``) changes no answer until they train."""

    image_text_layers: int = 0
    """Layers in which the image tokens read the request (self-attention among them, then
    cross-attention to the request's token states), after :attr:`image_layers`: early fusion,
    so that the image path can mark the person a request names ("the one on the left", "the one
    who is about to jump") before the joint queries read the image. Residual branches start at
    zero, so they too may be added to a trained decoder."""
    confidence: str = "none"
    """A confidence gate (:data:`CONFIDENCE`): ``"pose"`` scales every joint's predicted change
    from the mean pose by one factor per answer, ``2 * sigmoid(g)``, ``"joint"`` by one factor per
    joint, ``g`` read from the joints' decoder outputs and the request's summary (the mean of its
    memory tokens; :meth:`PoseDecoder.confidence`), so that a request the decoder cannot read well
    (a situation it never saw) gets an answer nearer the mean pose, the best guess under doubt,
    while a plain caption keeps its full answer. The gate starts at exactly 1 (an added gate
    changes no answer) and is fitted on held-out requests (:attr:`DecoderTrainConfig.trainable`
    ``"confidence"``): on the training requests, which the decoder has learnt by heart, it would
    only learn to trust them. ``"none"``: no gate."""

    def __post_init__(self) -> None:
        if self.width % self.heads:
            raise ValueError(f"width ({self.width}) must be divisible by heads ({self.heads})")
        if min(self.state_dim, self.width, self.layers, self.heads, self.max_poses) < 1:
            raise ValueError(f"every size must be >= 1, got {self}")
        for name in ("image_layers", "image_text_layers"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if self.confidence not in CONFIDENCE:
            raise ValueError(f"confidence must be one of {CONFIDENCE}, got {self.confidence!r}")
        if self.image_detail_dim % 4:
            raise ValueError(f"image_detail_dim holds 2 x 2 sub-cells per token: a multiple of 4, got {self.image_detail_dim}")


def _start_as_identity(stack: nn.Module) -> nn.Module:
    """Zero every residual branch's last projection (attention outputs and ``linear2``) of a
    pre-norm transformer stack, so that it is the identity until trained; returns ``stack``."""
    for name, module in stack.named_modules():
        if name.endswith(("out_proj", "linear2")) and isinstance(module, nn.Linear):
            nn.init.zeros_(module.weight)
            nn.init.zeros_(module.bias)
    return stack


class PoseDecoder(nn.Module):
    """Request states ``(B, T, D)`` (+ optional input poses ``(B, 24, 3)``) -> 6D poses ``(B, 24, 6)``."""

    def __init__(self, config: PoseDecoderConfig, mean_pose: torch.Tensor | None = None):
        super().__init__()
        self.config = config
        w = config.width
        self.register_buffer("state_mean", torch.zeros(config.state_dim))
        self.register_buffer("state_std", torch.ones(config.state_dim))
        mean_pose = torch.zeros(NUM_JOINTS, 3) if mean_pose is None else mean_pose
        self.register_buffer("mean_6d", rotvec_to_rot6d(mean_pose.reshape(NUM_JOINTS, 3)).float())  # (24, 6)
        self.text_proj = nn.Linear(config.state_dim, w)
        self.pose_in_proj = nn.Linear(6, w)
        self.joint_embed = nn.Parameter(torch.randn(NUM_JOINTS, w) * 0.02)  # input-pose joint tokens
        self.type_embed = nn.Parameter(torch.randn(3, w) * 0.02)  # 0: text token, 1: input-pose token, 2: image
        self.image_norm = nn.LayerNorm(config.image_dim)
        self.image_proj = nn.Linear(config.image_dim, w)
        self.image_pos = nn.Parameter(torch.randn(config.image_tokens, w) * 0.02)
        if config.image_detail_dim:
            self.detail_norm = nn.LayerNorm(config.image_detail_dim // 4)
            self.detail_proj = nn.Linear(config.image_detail_dim // 4, w)
            self.detail_pos = nn.Parameter(torch.randn(4 * config.image_tokens, w) * 0.02)
        if config.image_layers:
            block = nn.TransformerEncoderLayer(w, config.heads, 4 * w, config.dropout, batch_first=True, norm_first=True)
            self.image_encoder = _start_as_identity(nn.TransformerEncoder(block, config.image_layers,
                                                                          enable_nested_tensor=False))
        if config.image_text_layers:
            block = nn.TransformerDecoderLayer(w, config.heads, 4 * w, config.dropout, batch_first=True, norm_first=True)
            self.image_text = _start_as_identity(nn.TransformerDecoder(block, config.image_text_layers))
        if config.grounding:
            self.ground_pool = nn.Linear(w, 1)  # which request tokens say who is asked for
            self.ground_query = nn.Linear(w, w)
            self.ground_key = nn.Linear(w, w)
            self.asked_embed = nn.Parameter(torch.randn(w) * 0.02)
        self.queries = nn.Parameter(torch.randn(NUM_JOINTS, w) * 0.02)
        self.index_embed = nn.Parameter(torch.zeros(config.max_poses, w))
        layer = nn.TransformerDecoderLayer(w, config.heads, 4 * w, config.dropout, batch_first=True, norm_first=True)
        self.decoder = nn.TransformerDecoder(layer, config.layers)
        self.out_norm = nn.LayerNorm(w)
        self.out = nn.Linear(w, 6)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)
        if config.confidence != "none":
            self.confidence_gate = nn.Sequential(nn.Linear(w, 64), nn.GELU(), nn.Linear(64, 1))  # per joint
            self.confidence_norm = nn.LayerNorm(w)
            self.confidence_request = nn.Linear(w, NUM_JOINTS)  # from the request's summary, per joint
            for last in (self.confidence_gate[2], self.confidence_request):  # 2 * sigmoid(0) = 1: the identity
                nn.init.zeros_(last.weight)
                nn.init.zeros_(last.bias)

    def set_standardisation(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """Per-feature mean and std ``(D,)`` of the training states."""
        self.state_mean.copy_(mean)
        self.state_std.copy_(std.clamp_min(1e-4))

    def grounding(self, text: torch.Tensor, mask: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``(B, N)`` that each image token shows the asked-for person, from
        the projected request tokens ``(B, T, width)`` (``mask (B, T)``) and image tokens ``(B, N, width)``."""
        weights = self.ground_pool(text).squeeze(-1).float().masked_fill(~mask, float("-inf")).softmax(-1)  # (B, T)
        pooled = (weights.to(text.dtype)[..., None] * text).sum(1)  # (B, w)
        scores = (self.ground_key(image) @ self.ground_query(pooled)[..., None]).squeeze(-1)  # (B, N)
        return (scores.float() / math.sqrt(self.config.width)).log_softmax(-1)

    def memory(self, states: torch.Tensor, mask: torch.Tensor, pose_in: torch.Tensor | None = None,
               image: torch.Tensor | None = None, return_grounding: bool = False):
        """Memory ``(B, M, width)`` and its mask ``(B, M)`` (True: attend), in the decoder's dtype;
        with ``return_grounding``, also :meth:`grounding`'s ``(B, N)`` (None without an image)."""
        dtype = self.text_proj.weight.dtype
        states = ((states.to(self.state_mean.dtype) - self.state_mean) / self.state_std).to(dtype)
        text = self.text_proj(states) + self.type_embed[0]  # (B, T, w)
        parts, grounding = [text], None
        if pose_in is not None:
            parts.append(self.pose_in_proj(rotvec_to_rot6d(pose_in.float()).to(dtype)) + self.joint_embed
                         + self.type_embed[1])  # (B, 24, w)
        if image is not None:
            coarse_dim = self.config.image_dim
            if image.shape[-1] != coarse_dim + self.config.image_detail_dim:
                raise ValueError(f"image tokens have {image.shape[-1]} values, the decoder reads {coarse_dim} + "
                                 f"{self.config.image_detail_dim} detail: features of another vision encoder?")
            image = image.to(dtype)
            tokens = self.image_proj(self.image_norm(image[..., :coarse_dim])) + self.image_pos + self.type_embed[2]
            if self.config.image_layers:
                tokens = self.image_encoder(tokens)  # (B, 49, w)
            if self.config.image_text_layers:  # the image tokens read the request
                tokens = self.image_text(tokens, text, memory_key_padding_mask=~mask)  # (B, 49, w)
            if self.config.grounding:
                grounding = self.grounding(text, mask, tokens)  # (B, 49)
                tokens = tokens + (grounding.exp() * tokens.shape[1]).to(dtype)[..., None] * self.asked_embed
            parts.append(tokens)  # (B, 49, w)
            if self.config.image_detail_dim:
                b, n = image.shape[:2]
                detail = image[..., coarse_dim:].reshape(b, n, 4, -1).flatten(1, 2)  # (B, 4 * 49, 155)
                parts.append(self.detail_proj(self.detail_norm(detail)) + self.detail_pos + self.type_embed[2])
        memory = torch.cat(parts, 1)
        seen = torch.ones(len(memory), memory.shape[1] - mask.shape[1], dtype=torch.bool, device=mask.device)
        memory_mask = torch.cat([mask, seen], 1)  # pose and image tokens are never padding
        return (memory, memory_mask, grounding) if return_grounding else (memory, memory_mask)

    def joint_features(self, states: torch.Tensor, mask: torch.Tensor, pose_in: torch.Tensor | None = None,
                       pose_index: torch.Tensor | None = None, image: torch.Tensor | None = None,
                       return_grounding: bool = False):
        """The decoder's output per joint query ``(B, 24, width)`` (inputs as :meth:`forward`), and
        with a confidence gate one more row, the request's summary (its memory tokens' mean), which
        the gate reads: ``(B, 25, width)``. With ``return_grounding``, also :meth:`grounding`'s
        ``(B, N)`` or None."""
        memory, memory_mask, grounding = self.memory(states, mask, pose_in, image, return_grounding=True)
        index = pose_index if pose_index is not None else torch.zeros(len(states), dtype=torch.long,
                                                                        device=states.device)
        queries = self.queries[None] + self.index_embed[index][:, None]  # (B, 24, w)
        hidden = self.decoder(queries, memory, memory_key_padding_mask=~memory_mask)  # (B, 24, w)
        if self.config.confidence != "none":
            weights = memory_mask[..., None].to(memory.dtype)  # (B, M, 1)
            summary = (memory * weights).sum(1) / weights.sum(1).clamp_min(1)  # (B, w)
            hidden = torch.cat([hidden, summary[:, None]], 1)  # (B, 25, w)
        return (hidden, grounding) if return_grounding else hidden

    def rotations(self, features: torch.Tensor) -> torch.Tensor:
        """:meth:`joint_features` -> 6D rotations ``(B, 24, 6)`` float32: the mean pose plus each
        joint's predicted change, scaled by :meth:`confidence` when the decoder has a gate."""
        change = self.out(self.out_norm(features[:, :NUM_JOINTS])).float()  # (B, 24, 6)
        if self.config.confidence != "none":
            change = change * self.confidence(features)[..., None]
        return self.mean_6d + change

    def confidence(self, features: torch.Tensor) -> torch.Tensor:
        """How far each joint's answer goes from the mean pose ``(B, 24)``, in (0, 2): 1 is the
        decoder's own answer, 0 the mean pose (:attr:`PoseDecoderConfig.confidence`; all ones
        without a gate). ``features``: :meth:`joint_features`' output. It reads each joint's output
        and the request's summary, so that it can tell a plain caption from a situation it never saw;
        with ``confidence="pose"`` the 24 factors of an answer are one."""
        if self.config.confidence == "none":
            return torch.ones(features.shape[0], NUM_JOINTS, device=features.device)
        joints, summary = features[:, :NUM_JOINTS], features[:, NUM_JOINTS]
        logit = (self.confidence_gate(self.out_norm(joints))[..., 0]  # (B, 24)
                 + self.confidence_request(self.confidence_norm(summary)))
        if self.config.confidence == "pose":  # one factor for the whole answer: the body keeps its shape
            logit = logit.mean(-1, keepdim=True).expand_as(logit)
        return 2 * torch.sigmoid(logit.float())  # (B, 24)

    def forward(self, states: torch.Tensor, mask: torch.Tensor, pose_in: torch.Tensor | None = None,
                pose_index: torch.Tensor | None = None, image: torch.Tensor | None = None) -> torch.Tensor:
        """``states (B, T, D)``, ``mask (B, T)`` bool, ``pose_in (B, 24, 3)`` axis-angle or None,
        ``pose_index (B,)`` long (0: the answer's first pose), ``image (B, 49, C)`` feature tokens
        or None -> 6D rotations ``(B, 24, 6)``."""
        return self.rotations(self.joint_features(states, mask, pose_in, pose_index, image))


TRAINABLE = ("all", "image", "confidence")
"""What :attr:`DecoderTrainConfig.trainable` may name."""
_IMAGE_PATH = ("image_", "detail_", "ground_", "asked_embed")
"""Names of the parameters that only image requests reach."""
_TRAINABLE_PARTS = {"image": _IMAGE_PATH, "confidence": ("confidence_",)}
"""Name prefixes of the parameters each partial :attr:`DecoderTrainConfig.trainable` trains."""


@dataclasses.dataclass(frozen=True)
class DecoderTrainConfig:
    """How :func:`train_pose_decoder` trains (saved with the model)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 5e-4
    weight_decay: float = 0.01
    seed: int = 0
    patience: int = 8
    """Stop after this many epochs without a better validation loss."""
    joint_weight: float = 0.0
    """Weight of an L1 loss on pelvis-relative joint positions (metres) through the body model's
    forward kinematics, added to the rotation-matrix L1 (which weighs a wrist like a hip); the
    validation loss that picks the best epoch is the same sum."""
    caption_draws: int = 0
    """Extra caption draws per training text2pose pose (:func:`posekit.datasets.recaptioned`),
    added by :func:`fit_state_decoder` to the training split only (validation and test stay the
    dataset's)."""
    brief_draws: int = 0
    """Extra *short* caption draws per training text2pose pose (at most :attr:`brief_facts` facts
    each, picked at random), added like :attr:`caption_draws`."""
    brief_facts: int = 2
    instruction_draws: int = 0
    """Extra *instruction-style* requests per training text2pose pose: the imperative that takes
    a person from standing into the pose ("Kneel down on both knees, then lean forward.",
    :func:`posekit.datasets.recaptioned` with ``style="instruction"``), added like
    :attr:`caption_draws`."""
    edit_draws: int = 0
    """Extra edit pairs per training edit record: its input pose taken to another training pose,
    with the automatic instruction (:func:`posekit.datasets.extra_edit_pairs`), added by
    :func:`fit_state_decoder` to the training split only."""
    trainable: str = "all"
    """Which parameters train: ``"all"``; ``"image"``: only the image path (the image tokens'
    norm, projection and positions, the image layers and the grounding map), so that a second stage on the image
    tasks (:func:`train_pose_decoder`'s ``init``) leaves every text and edit answer bit for bit
    as it was; ``"confidence"``: only the confidence gate (:attr:`PoseDecoderConfig.confidence`),
    the rest in eval mode (no dropout), which :func:`fit_state_decoder` fits on held-out requests:
    half of the validation split, the other half picking the epoch."""
    task_repeats: dict = dataclasses.field(default_factory=dict)
    """``{task: n}``: each training example of ``task`` is seen ``n`` times per epoch (an integer
    >= 1; tasks not named: once), so that a small task keeps its share of the mix when others
    grow (e.g. ``{"spg": 2}`` after more caption and edit draws). Validation is not repeated."""
    grounding_weight: float = 0.0
    """Weight of an auxiliary cross-entropy between the decoder's grounding map
    (:attr:`PoseDecoderConfig.grounding`) and the image cells that hold the asked-for person's
    2D joints (the renderer's, in the image records' meta); 0: none. The validation loss that
    picks the best epoch stays the pose loss alone."""

    def __post_init__(self) -> None:
        rules = [(name, ">= 1", lambda v: v >= 1) for name in ("epochs", "batch_size", "patience", "brief_facts")]
        rules += [("lr", "> 0", lambda v: v > 0)]
        rules += [(name, ">= 0", lambda v: v >= 0) for name in ("joint_weight", "grounding_weight", "caption_draws",
                                                                  "brief_draws", "instruction_draws", "edit_draws")]
        broken = [f"{name} {rule} (got {getattr(self, name)})" for name, rule, ok in rules if not ok(getattr(self, name))]
        if broken:
            raise ValueError(f"need {', '.join(broken)}")
        if self.trainable not in TRAINABLE:
            raise ValueError(f"trainable must be one of {TRAINABLE}, got {self.trainable!r}")
        bad = {t: n for t, n in self.task_repeats.items() if not isinstance(n, int) or isinstance(n, bool) or n < 1}
        if bad:
            raise ValueError(f"task_repeats must map tasks to whole numbers >= 1, got {bad}")


def parse_task_repeats(text: str) -> dict[str, int]:
    """``"spg=2,rpe=3"`` -> ``{"spg": 2, "rpe": 3}`` (:attr:`DecoderTrainConfig.task_repeats`; ``""``: none)."""
    out = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        task, _, count = item.partition("=")
        if not count.strip().isdigit() or int(count) < 1 or not task.strip():
            raise ValueError(f"task repeats are written task=N with a whole N >= 1, e.g. spg=2,rpe=3; got {item!r}")
        out[task.strip()] = int(count)
    return out


@dataclasses.dataclass
class _Examples:
    """One row per target pose: which request it belongs to and which pose of the answer it is."""

    request: torch.Tensor  # (P,) index into the states
    index: torch.Tensor  # (P,) pose index within the answer
    target: torch.Tensor  # (P, 24, 3)
    pose_in: torch.Tensor  # (P, 24, 3)
    has_input: torch.Tensor  # (P,) bool
    has_image: torch.Tensor  # (P,) bool
    keypoints: torch.Tensor | None = None  # (P, 24, 2) pixels, NaN where unknown

    @property
    def group(self) -> torch.Tensor:
        """``(P,)`` which inputs a request has: 0 text, 1 + pose, 2 + image, 3 both (batched apart)."""
        return self.has_input.long() + 2 * self.has_image.long()


def target_keypoints(record: Record) -> torch.Tensor | None:
    """The 2D joints ``(24, 2)`` (pixels) of the person an image record asks for: image2pose's
    only person, rpe's target; None for a record without them."""
    meta = record.meta or {}
    if "joints_2d" in meta:
        points = meta["joints_2d"]
    elif "people" in meta and "target_index" in meta:
        points = meta["people"][meta["target_index"]].get("joints_2d")
    else:
        return None
    return None if points is None else torch.tensor(points, dtype=torch.float32).reshape(NUM_JOINTS, 2)


def grounding_target(keypoints: torch.Tensor, image_size: int, tokens: int) -> torch.Tensor:
    """Where a person is, as a distribution ``(B, N)`` over an image's ``N`` feature tokens (a
    square grid, row-major): the share of the person's 2D joints ``(B, 24, 2)`` (pixels of an
    ``image_size`` square image) in each token's cell."""
    grid = math.isqrt(tokens)
    if grid * grid != tokens:
        raise ValueError(f"grounding needs a square grid of image tokens, got {tokens}")
    cells = (keypoints / image_size).clamp(0, 1 - 1e-6).mul(grid).floor().long()  # (B, 24, 2) column, row
    index = cells[..., 1] * grid + cells[..., 0]  # (B, 24)
    out = torch.zeros(len(keypoints), tokens)
    return out.scatter_add_(1, index, torch.full(index.shape, 1.0 / index.shape[1]))


def image_side(records: list[Record], root: Path, default: int = 224) -> int:
    """The width in pixels of the first image among ``records`` (the datasets' images are
    square, all of one size), the unit of their 2D joints; ``default`` when none has an image."""
    from PIL import Image

    first = next((r for r in records if r.image is not None), None)
    if first is None:
        return default
    with Image.open(Path(root) / first.image) as image:  # reads the header only
        return image.width


def _examples(records: list[Record], max_poses: int, repeats: dict[str, int] | None = None) -> _Examples:
    """One row per target pose of ``records``; ``repeats``: ``{task: n}``, the rows of that task's
    records n times (:attr:`DecoderTrainConfig.task_repeats`)."""
    request, index, target, pose_in, has_input, has_image, keypoints = [], [], [], [], [], [], []
    unknown = torch.full((NUM_JOINTS, 2), float("nan"))
    for i, r in enumerate(records):
        targets = r.targets()[:max_poses] if r.target_poses else torch.zeros(0, NUM_JOINTS, 3)
        inputs = r.inputs() if r.input_poses else None
        points = target_keypoints(r) if r.image is not None and len(targets) == 1 else None
        copies = (repeats or {}).get(r.task, 1)
        for k, t in [(k, t) for k, t in enumerate(targets) for _ in range(copies)]:
            request.append(i)
            index.append(k)
            target.append(t)
            pose_in.append(inputs[0] if inputs is not None else torch.zeros(NUM_JOINTS, 3))
            has_input.append(inputs is not None)
            has_image.append(r.image is not None)
            keypoints.append(points if points is not None else unknown)
    return _Examples(torch.tensor(request), torch.tensor(index), torch.stack(target).float(),
                     torch.stack(pose_in).float(), torch.tensor(has_input), torch.tensor(has_image),
                     torch.stack(keypoints))


def _batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Index batches of similar lengths (little padding): shuffled, sorted within chunks of 32 batches."""
    order = torch.randperm(len(lengths), generator=generator) if generator is not None else torch.arange(len(lengths))
    out = []
    chunk = batch_size * 32
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[torch.argsort(lengths[part], stable=True)]
        out += list(part.split(batch_size))
    if generator is not None:
        out = [out[i] for i in torch.randperm(len(out), generator=generator)]
    return out


def _run(decoder: PoseDecoder, states, ex: _Examples, rows: torch.Tensor, images: torch.Tensor | None,
         features: bool = False):
    """6D poses ``(b, 24, 6)`` of the examples ``rows`` (one input group per batch); with
    ``features``, the joint queries' outputs ``(b, 24, width)`` and the grounding map
    ``(b, N)`` (or None) instead."""
    if len(set(ex.group[rows].tolist())) != 1:
        raise ValueError("a batch mixes requests with different inputs (pose, image); batch them apart")
    text, mask = states.padded(ex.request[rows])
    pose_in = ex.pose_in[rows] if bool(ex.has_input[rows[0]]) else None
    image = None
    if bool(ex.has_image[rows[0]]):
        if images is None:
            raise ValueError("image requests need their image tokens (posekit.states.image_tokens)")
        image = images[ex.request[rows]]
    if features:
        return decoder.joint_features(text, mask, pose_in, ex.index[rows], image, return_grounding=True)
    return decoder(text, mask, pose_in, ex.index[rows], image)


def _group_batches(ex: _Examples, lengths: torch.Tensor, batch_size: int, generator) -> list[torch.Tensor]:
    """Length-sorted batches that never mix requests with different inputs (text, pose, image)."""
    out = []
    for flag in range(4):
        rows = torch.nonzero(ex.group == flag).flatten()
        if len(rows):
            out += [rows[b] for b in _batches(lengths[rows], batch_size, generator)]
    if generator is not None:
        out = [out[i] for i in torch.randperm(len(out), generator=generator)]
    return out


def pose_loss(six_d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 between rotation matrices of 6D predictions ``(B, 24, 6)`` and axis-angle targets ``(B, 24, 3)`` (ChatPose's pose loss)."""
    return F.l1_loss(rot6d_to_rotmat(six_d, validate=False), rotvec_to_rotmat(target, validate=False))


def joint_loss(body, six_d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """L1 (metres) between pelvis-relative joints ``(B, 24, 3)`` of 6D predictions and axis-angle
    targets, through ``body``'s forward kinematics (joints only)."""
    pred = rot6d_to_rotmat(six_d, validate=False)  # (B, 24, 3, 3)
    joints = body(pred[:, 0], pred[:, 1:], joints_only=True, validate=False).joints
    with torch.no_grad():
        goal = body(target[:, 0], target[:, 1:], joints_only=True, validate=False).joints
    return F.l1_loss(joints - joints[:, :1], goal - goal[:, :1])


def _check_start(train: DecoderTrainConfig, init) -> None:
    """A run that trains part of a decoder (:attr:`DecoderTrainConfig.trainable`) needs one to start from."""
    if train.trainable != "all" and init is None:
        raise ValueError(f"trainable={train.trainable!r} trains part of a decoder: start from a trained one "
                         "(init=, --init FILE)")


def train_pose_decoder(train_records: list[Record], train_states, val_records: list[Record], val_states,
                       config: PoseDecoderConfig = PoseDecoderConfig(), train: DecoderTrainConfig = DecoderTrainConfig(),
                       progress: bool = True, log=None, train_images: torch.Tensor | None = None,
                       val_images: torch.Tensor | None = None, checkpoint: str | Path | None = None,
                       image_size: int = 224, init: PoseDecoder | None = None) -> tuple[PoseDecoder, list[dict]]:
    """Train a :class:`PoseDecoder` on cached states (:func:`posekit.states.request_states` of the
    same records, in the same order; ``*_images``: :func:`posekit.states.image_tokens` rows aligned
    with the records, zeros for records without an image); returns the model at its best
    validation epoch and the history. ``image_size``: the images' side in pixels (where the 2D
    joints of :attr:`DecoderTrainConfig.grounding_weight` lie). ``init``: start from this trained
    decoder (same config) instead of the mean pose, its state standardisation and mean pose
    kept: a second stage on some of the tasks (e.g. the image tasks at a lower ``lr``).

    ``checkpoint``: a file written atomically after every epoch (model, optimizer, schedule, RNG
    states, history); a run started again with the same file resumes after its last finished
    epoch and ends exactly as an uninterrupted run would."""
    from tqdm.auto import tqdm

    from posekit.baselines import MeanPose

    torch.manual_seed(train.seed)
    gen = torch.Generator().manual_seed(train.seed)
    body = None
    if train.joint_weight > 0:
        from posekit.body import load_body_model

        body = load_body_model()

    def objective(six_d: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """The training loss, also the validation loss that picks the best epoch."""
        loss = pose_loss(six_d, target)
        return loss if body is None else loss + train.joint_weight * joint_loss(body, six_d, target)
    absent = sorted(set(train.task_repeats) - {r.task for r in train_records})
    if absent:
        raise ValueError(f"task_repeats names {', '.join(absent)}, which no training record has "
                         f"(the run's tasks: {', '.join(sorted({r.task for r in train_records}))})")
    tr, va = _examples(train_records, config.max_poses, train.task_repeats), _examples(val_records, config.max_poses)
    decoder = PoseDecoder(config, MeanPose().fit([r for r in train_records if r.target_poses]).pose)
    if init is not None:
        grown = {name: getattr(config, name) for name in GROWABLE}
        grows = (dataclasses.replace(init.config, **grown) == config
                 and all(getattr(init.config, name) in (0, "none", value) for name, value in grown.items()))
        if init.config != config and not grows:
            raise ValueError(f"init decoder has config {init.config}, this run {config}: start from a decoder of the "
                             "same architecture, backbone layer and image features (it may add image_layers or "
                             "image_text_layers or a confidence gate to one without them)")
        # its standardisation and mean pose too: the inputs it was trained on; added image layers start as the identity
        decoder.load_state_dict(init.state_dict(), strict=not grows)
    else:
        flat = train_states.flat.float()
        decoder.set_standardisation(flat.mean(0), flat.std(0))
        del flat
    if train.grounding_weight > 0 and not config.grounding:
        raise ValueError("grounding_weight trains the grounding map: use PoseDecoderConfig(grounding=True)")

    def train_loss(rows: torch.Tensor) -> torch.Tensor:
        """The objective, plus the grounding loss on the batch's examples with known 2D joints."""
        if train.grounding_weight == 0:
            return objective(_run(decoder, train_states, tr, rows, train_images), tr.target[rows])
        features, grounding = _run(decoder, train_states, tr, rows, train_images, features=True)
        loss = objective(decoder.rotations(features), tr.target[rows])
        points = tr.keypoints[rows]  # (b, 24, 2) pixels, NaN: unknown
        known = ~points.isnan().any(-1).any(-1)
        if grounding is not None and known.any():
            goal = grounding_target(points[known], image_size, grounding.shape[1])
            loss = loss - train.grounding_weight * (goal * grounding[known]).sum(-1).mean()
        return loss
    _check_start(train, init)
    if train.trainable == "confidence" and config.confidence == "none":
        raise ValueError("trainable='confidence' fits the confidence gate: use PoseDecoderConfig(confidence='pose')")
    part = _TRAINABLE_PARTS.get(train.trainable)
    params = [p for name, p in decoder.named_parameters() if part is None or name.startswith(part)]
    if part is not None:
        for name, p in decoder.named_parameters():
            p.requires_grad_(name.startswith(part))
    opt = torch.optim.AdamW(params, lr=train.lr, weight_decay=train.weight_decay)
    steps = train.epochs * len(_group_batches(tr, train_states.lengths[tr.request], train.batch_size, None))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=train.lr, total_steps=max(steps, 1), pct_start=0.1)
    best, best_state, history, waited, first = math.inf, None, [], 0, 0
    if checkpoint is not None and Path(checkpoint).is_file():
        saved = torch.load(checkpoint, weights_only=False)
        if saved["config"] != dataclasses.asdict(config) or saved["train"] != dataclasses.asdict(train):
            raise ValueError(f"{checkpoint} belongs to another run (config differs); delete it or pass another path")
        decoder.load_state_dict(saved["model"])
        opt.load_state_dict(saved["optimizer"])
        sched.load_state_dict(saved["scheduler"])
        gen.set_state(saved["generator"])
        torch.set_rng_state(saved["torch_rng"])
        best, best_state, history, waited = saved["best"], saved["best_state"], saved["history"], saved["waited"]
        first = len(history)
    for epoch in range(first, train.epochs):
        if waited >= train.patience:
            break
        start = time.time()
        decoder.train(train.trainable != "confidence")  # a gate is fitted to the answers the decoder gives
        total, count = 0.0, 0
        batches = _group_batches(tr, train_states.lengths[tr.request], train.batch_size, gen)
        for rows in tqdm(batches, desc=f"epoch {epoch + 1}/{train.epochs}", disable=not progress, leave=False):
            loss = train_loss(rows)
            opt.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            total, count = total + loss.item() * len(rows), count + len(rows)
        decoder.eval()
        with torch.no_grad():
            val = 0.0
            for rows in _group_batches(va, val_states.lengths[va.request], 256, None):
                val += objective(_run(decoder, val_states, va, rows, val_images), va.target[rows]).item() * len(rows)
            val /= max(len(va.target), 1)
        row = {"epoch": epoch + 1, "train_loss": total / max(count, 1), "val_loss": val, "seconds": time.time() - start}
        history.append(row)
        if log is not None:
            log(row)
        if val < best:
            best, waited = val, 0
            best_state = {k: v.clone() for k, v in decoder.state_dict().items()}
        else:
            waited += 1
        if checkpoint is not None:
            from posekit.files import atomic_path

            with atomic_path(checkpoint) as tmp:
                torch.save({"config": dataclasses.asdict(config), "train": dataclasses.asdict(train),
                            "model": decoder.state_dict(), "optimizer": opt.state_dict(), "scheduler": sched.state_dict(),
                            "generator": gen.get_state(), "torch_rng": torch.get_rng_state(), "best": best,
                            "best_state": best_state, "history": history, "waited": waited}, tmp)
    if best_state is not None:
        decoder.load_state_dict(best_state)
    decoder.requires_grad_(True)
    decoder.eval()
    return decoder, history


class StatePoseModel:
    """A trained :class:`PoseDecoder` with its state reader, as an evaluation model
    (``predict(records, root) -> (N, 24, 3)``, the first pose of each answer)."""

    name = "decoder"

    def __init__(self, decoder: PoseDecoder, layer: int, backbone: str, llm=None, vision: str = DEFAULT_VISION):
        self.decoder, self.layer, self.backbone, self.llm, self.vision = decoder, layer, backbone, llm, vision

    def fit(self, records: list[Record], root: Path | None = None) -> "StatePoseModel":
        return self  # trained already (train_pose_decoder)

    @torch.no_grad()
    def predict(self, records: list[Record], root: Path | None = None, progress: bool = False) -> torch.Tensor:
        from posekit.states import request_states

        states = request_states(records, self.layer, self.backbone, progress=progress, model=self.llm)
        images = aligned_image_tokens(records, root, progress=progress, vision=self.vision)
        pose_in = [r.inputs()[-1] if r.input_poses else None for r in records]
        poses = decode_requests(self.decoder, states, pose_in, images, [1] * len(records))
        return rotmat_to_rotvec(torch.cat(poses))

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        from posekit.files import atomic_path

        payload = {"config": dataclasses.asdict(self.decoder.config), "layer": self.layer, "backbone": self.backbone,
                   "vision": self.vision,
                   "state_dict": {k: v.half() if v.is_floating_point() else v for k, v in self.decoder.state_dict().items()},
                   **(extra or {})}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, llm=None) -> "StatePoseModel":
        """A decoder file (``posekit train-decoder --out``), or the decoder head of a ChatPose
        checkpoint folder (``pose_head="decoder"``, e.g. the shipped one)."""
        path = Path(path)
        if path.is_dir():
            return cls._from_chatpose(path, llm)
        if not path.is_file():
            raise FileNotFoundError(f"decoder file {path} does not exist (write one with `posekit train-decoder --out FILE`)")
        try:
            payload = torch.load(path, weights_only=True)
            config = PoseDecoderConfig(**payload["config"])
        except Exception as err:  # truncated, another format, or a file of another program
            raise ValueError(f"{path} is not a posekit decoder file ({type(err).__name__}); pass the .pt file that "
                             "`posekit train-decoder --out` wrote") from None
        decoder = PoseDecoder(config)
        decoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
        decoder.eval()
        return cls(decoder, payload["layer"], payload["backbone"], llm, payload.get("vision", DEFAULT_VISION))

    @classmethod
    def _from_chatpose(cls, folder: Path, llm=None) -> "StatePoseModel":
        """The decoder head of a ChatPose checkpoint, its sizes read from the stored weights."""
        from safetensors.torch import load_file

        from posekit.chatpose.checkpoint import WEIGHTS_FILE, read_meta
        from posekit.chatpose.config import ChatPoseConfig
        from posekit.chatpose.heads import decoder_head_config

        settings = ChatPoseConfig.from_dict(read_meta(folder)["config"])
        if settings.pose_head != "decoder":
            raise ValueError(f"{folder} has a {settings.pose_head!r} pose head, not a decoder: pass a checkpoint "
                             "with pose_head='decoder' or a `posekit train-decoder --out` file")
        prefix = "pose_head."
        state = {k[len(prefix):]: v.float() if v.is_floating_point() else v
                 for k, v in load_file(folder / WEIGHTS_FILE).items() if k.startswith(prefix)}
        detail = state["detail_proj.weight"].shape[1] * 4 if "detail_proj.weight" in state else 0
        decoder = PoseDecoder(decoder_head_config(settings, state["state_mean"].shape[0], state["image_proj.weight"].shape[1],
                                                  state["image_pos"].shape[0], detail))
        decoder.load_state_dict(state)
        decoder.eval()
        return cls(decoder, settings.head_layer, settings.backbone, llm, settings.vision_encoder or DEFAULT_VISION)


def decoder_recipe(path: str | Path) -> dict:
    """How a saved decoder was trained: ``tasks``, ``dataset``, ``train`` settings, ``history`` and the
    ``init`` it started from, read from a decoder file or from the ``decoder_training`` that a
    ChatPose folder records (None where not recorded)."""
    path = Path(path)
    if path.is_dir():
        from posekit.chatpose.checkpoint import read_meta

        before = read_meta(path).get("decoder_training", {})
    else:
        before = torch.load(path, weights_only=True)
    return {k: before.get(k) for k in ("tasks", "dataset", "train", "history", "init")}


def stage_record(path: str | Path) -> dict:
    """What a later stage records as its ``init``: the file it started from and that file's whole
    :func:`decoder_recipe` (whose own ``init`` is the stage before, and so on), so that the last
    stage's file or ChatPose folder tells every stage's settings, not only a path."""
    return {"file": str(path), **decoder_recipe(path)}


@torch.no_grad()
def decode_requests(decoder: PoseDecoder, states, pose_in: list[torch.Tensor | None], images: torch.Tensor | None,
                    counts: list[int], batch_size: int = 256) -> list[torch.Tensor]:
    """Rotation matrices ``(counts[i], 24, 3, 3)`` for each request ``i``: its first ``counts[i]``
    poses, from its states (``states[i]``), its input pose ``pose_in[i]`` ``(24, 3)`` or None and
    its image tokens ``images[i]`` (None or zeros for requests without an image)."""
    request, index = [], []
    for i, n in enumerate(counts):
        request += [i] * n
        index += list(range(n))
    if not request:
        return [torch.zeros(0, NUM_JOINTS, 3, 3) for _ in counts]
    request_t = torch.tensor(request)
    zeros = torch.zeros(NUM_JOINTS, 3)
    has_image = torch.zeros(len(counts), dtype=torch.bool)
    if images is not None:
        has_image = images.flatten(1).abs().amax(1) > 0
    ex = _Examples(request_t, torch.tensor(index).clamp(max=decoder.config.max_poses - 1),
                   torch.zeros(len(request), NUM_JOINTS, 3),
                   torch.stack([pose_in[i] if pose_in[i] is not None else zeros for i in request]).float(),
                   torch.tensor([pose_in[i] is not None for i in request]), has_image[request_t])
    was_training = decoder.training
    decoder.eval()
    out = torch.zeros(len(request), NUM_JOINTS, 3, 3)
    for rows in _group_batches(ex, states.lengths[ex.request], batch_size, None):
        out[rows] = rot6d_to_rotmat(_run(decoder, states, ex, rows, images).float())
    decoder.train(was_training)
    return list(out.split(counts))


def aligned_image_tokens(records: list[Record], root: Path | None, progress: bool = False,
                         vision: str = DEFAULT_VISION) -> torch.Tensor | None:
    """Image tokens ``(N, 49, C)`` of the encoder ``vision`` aligned with ``records`` (zeros where
    a record has no image), or None when none has one."""
    from posekit.states import image_tokens

    with_image = [i for i, r in enumerate(records) if r.image is not None]
    if not with_image:
        return None
    if root is None:
        raise ValueError("image records need the dataset folder (root=) to find their images")
    tokens = image_tokens([records[i] for i in with_image], root, progress=progress, vision=vision)
    out = torch.zeros(len(records), *tokens.shape[1:], dtype=tokens.dtype)
    out[with_image] = tokens
    return out


DECODER_TASKS = ("text2pose", "spg", "edit", "image2pose", "rpe")
"""The tasks the shipped decoder trains across (every pose-producing task)."""


def held_out_halves(records: list[Record], seed: int = 0) -> tuple[list[Record], list[Record]]:
    """Held-out records in two halves drawn at random (each in the records' order): one to fit a
    confidence gate on, one to pick its epoch (:attr:`DecoderTrainConfig.trainable` ``"confidence"``)."""
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    half = len(order) // 2
    return [records[i] for i in sorted(order[:half])], [records[i] for i in sorted(order[half:])]


def fit_state_decoder(dataset: str = "default", tasks=DECODER_TASKS, layer: int | None = None,
                      backbone: str | None = None, config: PoseDecoderConfig | None = None,
                      train: DecoderTrainConfig = DecoderTrainConfig(), root: Path | None = None,
                      progress: bool = True, log=None, checkpoint: str | Path | None = None,
                      vision: str = DEFAULT_VISION, init: str | Path | None = None) -> tuple[StatePoseModel, list[dict]]:
    """The staged recipe's first two stages in one call: cache the request states of ``tasks``'
    train and val splits (and the image tokens of the encoder ``vision``), then train one decoder
    across the tasks on them (``checkpoint``: see :func:`train_pose_decoder`, a stopped run resumes;
    ``init``: a decoder file to start from, read at the same layer of the same backbone with the
    same image features)."""
    from posekit.datasets import dataset_dir, extra_edit_pairs, load_records, recaptioned
    from posekit.llm import DEFAULT_BACKBONE, load_backbone
    from posekit.states import DEFAULT_STATE_LAYER, request_states

    layer = DEFAULT_STATE_LAYER if layer is None else layer
    backbone = backbone or DEFAULT_BACKBONE
    _check_start(train, init)  # before minutes of caching
    start = None
    if init is not None:
        start = StatePoseModel.load(init)
        if (start.layer, start.backbone, start.vision) != (layer, backbone, vision):
            raise ValueError(f"{init} reads layer {start.layer} of {start.backbone} with {start.vision} image features; "
                             f"this run reads layer {layer} of {backbone} with {vision}: pass the same --layer/--vision")
    root = Path(root) if root is not None else dataset_dir(dataset)
    splits = {s: [r for t in tasks for r in load_records(t, s, root=root) if r.target_poses] for s in ("train", "val")}
    if train.trainable == "confidence":  # the gate learns how far to trust answers to requests the decoder never saw
        splits = dict(zip(("train", "val"), held_out_halves(splits["val"], train.seed)))
    llm = load_backbone(backbone)  # after the records: a missing dataset fails in a second
    if "text2pose" in tasks:  # recaptioned gives [] for 0 draws
        splits["train"] += (recaptioned(splits["train"], train.caption_draws, seed=train.seed + 1)
                            + recaptioned(splits["train"], train.brief_draws, seed=train.seed + 2,
                                          max_facts=train.brief_facts)
                            + recaptioned(splits["train"], train.instruction_draws, seed=train.seed + 3,
                                          style="instruction"))
    if "edit" in tasks:
        splits["train"] += extra_edit_pairs(splits["train"], train.edit_draws, seed=train.seed + 4)
    states = {s: request_states(recs, layer, backbone, progress=progress, model=llm) for s, recs in splits.items()}
    images = {s: aligned_image_tokens(recs, root, progress=progress, vision=vision) for s, recs in splits.items()}
    config = dataclasses.replace(config or PoseDecoderConfig(), state_dim=states["train"].flat.shape[1])
    if images["train"] is not None:
        from posekit.vision import make_vision_encoder

        encoder = make_vision_encoder(vision)
        config = dataclasses.replace(config, image_dim=encoder.dim, image_tokens=encoder.tokens,
                                     image_detail_dim=encoder.detail_dim)
    decoder, history = train_pose_decoder(splits["train"], states["train"], splits["val"], states["val"], config,
                                          train, progress=progress, log=log, train_images=images["train"],
                                          val_images=images["val"], checkpoint=checkpoint,
                                          image_size=image_side(splits["train"], root),
                                          init=start.decoder if start is not None else None)
    return StatePoseModel(decoder, layer, backbone, llm, vision), history


def attach_to_chatpose(model: StatePoseModel, source: str | Path, out: str | Path, extra: dict | None = None,
                       dtype: torch.dtype | None = torch.float16, backbone=None) -> Path:
    """Ship a trained decoder as a ChatPose checkpoint: the ``source`` checkpoint's language parts
    (LoRA, token rows, pose encoder, image projector) with this decoder as its pose head
    (``pose_head="decoder"``, ``head_layer`` = the decoder's layer). ``backbone``: ``(model,
    tokenizer)`` to use instead of loading the one the config names (a fresh one: LoRA wraps it).
    Returns ``out``."""
    from posekit.chatpose import ChatPose, ChatPoseConfig

    meta = ChatPose.read_meta(source)
    config = ChatPoseConfig.from_dict({**meta["config"], "pose_head": "decoder", "head_layer": model.layer,
                                       "vision_encoder": model.vision,
                                       "decoder_width": model.decoder.config.width,
                                       "decoder_layers": model.decoder.config.layers,
                                       "decoder_grounding": model.decoder.config.grounding,
                                       "decoder_image_layers": model.decoder.config.image_layers,
                                       "decoder_image_text_layers": model.decoder.config.image_text_layers,
                                       "decoder_confidence": model.decoder.config.confidence})
    if config.backbone != model.backbone:
        raise ValueError(f"the decoder read {model.backbone!r} states but {source} uses {config.backbone!r}")
    chatpose = ChatPose(config, backbone=backbone)  # its own backbone: get_peft_model changes the model it wraps
    chatpose.load_trained(source, meta, strict=False)  # the old head's parts do not fit and are left out
    if chatpose.pose_head.config != model.decoder.config:
        raise ValueError(f"decoder config {model.decoder.config} does not fit ChatPose's head {chatpose.pose_head.config}")
    chatpose.pose_head.load_state_dict(model.decoder.state_dict())
    return chatpose.save(out, extra={**(extra or {}), "language_parts_from": str(source)}, dtype=dtype)
