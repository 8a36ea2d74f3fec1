"""A pose decoder over frozen LLM token states: the request's states, read directly.

Short LoRA runs showed that a 135M LLM trained for an hour routes almost
nothing of the request into ChatPose's single ``<POSE>`` state; the frozen model's token
states at a middle layer, however, hold what the request says (docs/model-design.md, "reading the
request"). This decoder reads them directly:

- **memory**: the request's token states at layer ``L`` (:mod:`posekit.encoders.state_cache`, standardised
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

import math

import torch
from torch import nn

from posekit.body.rotations import rotvec_to_rot6d
from posekit.body.skeleton import NUM_JOINTS
from posekit.models.decoder.config import PoseDecoderConfig

__all__ = ["start_as_identity", "PoseDecoder", "RECALL_LOGIT_BOUND"]

RECALL_LOGIT_BOUND = 4.0
"""The retrieval memory's candidate scores lie in (-4, 4) (a scaled tanh): unbounded, the choice's softmax
saturated within a few epochs and training stalled on one candidate (measured: the collapsed runs
of 2026-12-06 in data/experiments/decoder_designs/README.md)."""


def start_as_identity(stack: nn.Module) -> nn.Module:
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
            self.image_encoder = start_as_identity(nn.TransformerEncoder(block, config.image_layers,
                                                                          enable_nested_tensor=False))
        if config.image_text_layers:
            block = nn.TransformerDecoderLayer(w, config.heads, 4 * w, config.dropout, batch_first=True, norm_first=True)
            self.image_text = start_as_identity(nn.TransformerDecoder(block, config.image_text_layers))
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
        if config.recall and config.recall_poses < config.recall:
            raise ValueError(f"recall={config.recall} needs a label memory of at least that many poses, got "
                             f"{config.recall_poses} (fit_state_decoder sizes it from the labels)")
        if config.reads_sentence:
            self.register_buffer("recall_keys", torch.zeros(config.recall_labels, config.sentence_dim or 384))
            self.register_buffer("recall_owner", torch.zeros(config.recall_labels, dtype=torch.long))
            self.register_buffer("recall_table", torch.zeros(config.recall_poses, NUM_JOINTS, 3))
            if config.sentence_dim:
                self.sentence_proj = nn.Linear(config.sentence_dim, w)
            if config.recall:  # choose between the decoder's answer and each recalled pose
                inputs = 2 * w + 2 + 16 + 64
                self.recall_pose = nn.Linear(NUM_JOINTS * 6, 64)  # which pose a candidate is
                self.recall_rank = nn.Parameter(torch.randn(config.recall + 1, 16) * 0.02)  # 0: the decoder's answer
                self.recall_choice = nn.Sequential(nn.LayerNorm(inputs), nn.Linear(inputs, 2 * w), nn.GELU(),
                                                   nn.Linear(2 * w, 1))
                last = self.recall_choice[3]
                if not config.sentence_dim:
                    raise ValueError("recall chooses with the request's sentence: set sentence_dim (MiniLM: 384)")
            else:  # the sentence embedding changes each joint's features
                self.sentence_delta = nn.Sequential(nn.Linear(2 * w, 2 * w), nn.GELU(), nn.Linear(2 * w, w))
                last = self.sentence_delta[2]
            nn.init.zeros_(last.weight)  # starts as the identity: added to a trained decoder, no answer changes
            nn.init.zeros_(last.bias)
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

    def set_label_memory(self, keys: torch.Tensor, owner: torch.Tensor, table: torch.Tensor) -> None:
        """The retrieval memory: label keys ``(L, 384)`` (unit MiniLM embeddings), the canonical pose
        each label names ``owner (L,)`` (indices into ``table``) and the poses ``table (P, 24, 3)``."""
        if keys.shape != self.recall_keys.shape or table.shape != self.recall_table.shape or owner.shape != self.recall_owner.shape:
            raise ValueError(f"label memory of {tuple(keys.shape)} keys and {tuple(table.shape)} poses does not fit this "
                             f"decoder's ({tuple(self.recall_keys.shape)}, {tuple(self.recall_table.shape)})")
        self.recall_keys.copy_(keys)
        self.recall_owner.copy_(owner)
        self.recall_table.copy_(table)

    def recall(self, sentences: torch.Tensor, exclude: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The :attr:`PoseDecoderConfig.recall` canonical poses nearest to each request: sentence
        embeddings ``(B, 384)`` -> poses ``(B, k, 24, 3)`` and similarities ``(B, k)`` (each pose's
        best label). ``exclude``: per request, label indices not to match (training leaves a
        request's own text out of the memory it reads)."""
        sim = sentences.float() @ self.recall_keys.float().T  # (B, L)
        if exclude is not None:
            for b, labels in enumerate(exclude):
                if labels:
                    sim[b, labels] = -2.0
        best = torch.full((len(sim), len(self.recall_table)), -2.0, device=sim.device)
        best = best.scatter_reduce(1, self.recall_owner.expand(len(sim), -1), sim, reduce="amax")  # (B, P)
        top = best.topk(self.config.recall, dim=1)
        return self.recall_table[top.indices], top.values

    def recall_candidates(self, six_d: torch.Tensor, features: torch.Tensor, sentences: torch.Tensor,
                          exclude: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The retrieval memory's candidates ``(B, k + 1, 24, 6)`` (the decoder's answer ``six_d (B, 24, 6)``,
        then the :meth:`recall`-ed poses) and their logits ``(B, k + 1)``, read from the request
        (its pooled joint features and sentence), each candidate's pose, similarity, rank and
        distance to the decoder's answer. The last layer starts at zero and the decoder's answer
        has a head start of 1, so that a decoder that has just grown this part answers as before;
        the learned part of each score is bounded by :data:`RECALL_LOGIT_BOUND`."""
        poses, scores = self.recall(sentences, exclude)  # (B, k, 24, 3), (B, k)
        candidates = torch.cat([six_d[:, None], rotvec_to_rot6d(poses.float())], 1)  # (B, k + 1, 24, 6)
        b, c = candidates.shape[:2]
        dtype = self.queries.dtype
        request = torch.cat([self.out_norm(features[:, :NUM_JOINTS]).mean(1),
                             self.sentence_proj(sentences.to(dtype))], -1)  # (B, 2w)
        similarity = torch.cat([torch.ones(b, 1, device=scores.device), scores.float()], 1)  # (B, k + 1)
        gap = (candidates - six_d[:, None]).abs().mean((2, 3))  # (B, k + 1)
        per = torch.cat([request[:, None].expand(b, c, -1).float(), similarity[..., None], gap[..., None],
                         self.recall_rank[None].expand(b, -1, -1).float(),
                         self.recall_pose(candidates.flatten(2).to(dtype)).float()], -1)  # (B, k + 1, inputs)
        raw = self.recall_choice(per.to(dtype)).float()[..., 0]  # (B, k + 1)
        logits = RECALL_LOGIT_BOUND * torch.tanh(raw / RECALL_LOGIT_BOUND)  # bounded: the choice never saturates
        return candidates, logits + self._decoder_first(b, c, logits.device)

    @staticmethod
    def _decoder_first(batch: int, candidates: int, device) -> torch.Tensor:
        """``(B, C)``: 1 for candidate 0 (the decoder's own answer), 0 for the recalled poses."""
        out = torch.zeros(batch, candidates, device=device)
        out[:, 0] = 1
        return out

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
                       return_grounding: bool = False, sentences: torch.Tensor | None = None):
        """The decoder's output per joint query ``(B, 24, width)`` (inputs as :meth:`forward`), and
        with a confidence gate one more row, the request's summary (its memory tokens' mean), which
        the gate reads: ``(B, 25, width)``. With ``return_grounding``, also :meth:`grounding`'s
        ``(B, N)`` or None."""
        memory, memory_mask, grounding = self.memory(states, mask, pose_in, image, return_grounding=True)
        index = pose_index if pose_index is not None else torch.zeros(len(states), dtype=torch.long,
                                                                        device=states.device)
        queries = self.queries[None] + self.index_embed[index][:, None]  # (B, 24, w)
        hidden = self.decoder(queries, memory, memory_key_padding_mask=~memory_mask)  # (B, 24, w)
        if self.config.reads_sentence and image is None:  # image requests are answered from the image (their
            if sentences is None:                         # answers stay as they were: tested)
                raise ValueError("this decoder reads the request's sentence embedding too (recall / sentence_dim): "
                                 "pass sentences= (posekit.models.decoder.recall.sentence_inputs)")
            if not self.config.recall:  # no memory: the sentence changes each joint's features
                sentence = self.sentence_proj(sentences.to(hidden.dtype))[:, None].expand_as(hidden)
                hidden = hidden + self.sentence_delta(torch.cat([self.out_norm(hidden), sentence], -1))
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

    def answer_candidates(self, states: torch.Tensor, mask: torch.Tensor, pose_in: torch.Tensor | None = None,
                          pose_index: torch.Tensor | None = None, image: torch.Tensor | None = None,
                          sentences: torch.Tensor | None = None,
                          exclude: list[list[int]] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """The candidate answers ``(B, C, 24, 6)`` and their logits ``(B, C)`` (inputs as
        :meth:`forward`): with a retrieval memory, the decoder's answer and the recalled poses
        (:meth:`recall_candidates`); otherwise the decoder's answer alone (``C = 1``)."""
        features = self.joint_features(states, mask, pose_in, pose_index, image, sentences=sentences)
        six_d = self.rotations(features)
        if self.config.recall and image is None:
            return self.recall_candidates(six_d, features, sentences, exclude)
        return six_d[:, None], torch.zeros(len(six_d), 1, device=six_d.device)

    def forward(self, states: torch.Tensor, mask: torch.Tensor, pose_in: torch.Tensor | None = None,
                pose_index: torch.Tensor | None = None, image: torch.Tensor | None = None,
                sentences: torch.Tensor | None = None, exclude: list[list[int]] | None = None) -> torch.Tensor:
        """``states (B, T, D)``, ``mask (B, T)`` bool, ``pose_in (B, 24, 3)`` axis-angle or None,
        ``pose_index (B,)`` long (0: the answer's first pose), ``image (B, 49, C)`` feature tokens
        or None, ``sentences (B, 384)`` the requests' MiniLM embeddings (a decoder with
        :attr:`PoseDecoderConfig.reads_sentence`) -> 6D rotations ``(B, 24, 6)``."""
        candidates, logits = self.answer_candidates(states, mask, pose_in, pose_index, image, sentences, exclude)
        if self.training:  # the expected answer (training itself weighs each candidate's loss)
            return (logits.softmax(-1)[..., None, None] * candidates).sum(1)
        if logits.shape[1] > 1 and self.config.recall_margin:  # a recalled pose must beat the decoder's answer by the margin
            logits = logits - self.config.recall_margin * (1 - self._decoder_first(*logits.shape, logits.device))
        return candidates[torch.arange(len(logits)), logits.argmax(-1)]  # one answer, committed to
