"""Pose heads (a ``<POSE>`` state -> 24 joint rotations) and the pose encoder (a pose -> input tokens).

:class:`PoseHead` is ChatPose's MLP; :class:`AttendPoseHead` lets the ``<POSE>`` state attend over
the tokens before it; the decoder head is :class:`posekit.models.decoder.PoseDecoder` (built by
:func:`make_pose_head`).
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from posekit.body.rotations import rotvec_to_rot6d
from posekit.body.skeleton import NUM_JOINTS
from posekit.models.chatpose.config import ChatPoseConfig
from posekit.models.decoder.config import PoseDecoderConfig
from posekit.models.decoder.network import PoseDecoder

__all__ = ["PoseHead", "AttendPoseHead", "PoseEncoder", "make_pose_head", "decoder_head_config"]


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
    to them (measured in docs/model-design.md)."""

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


class PoseEncoder(nn.Module):
    """``(N, 24, 3)`` axis-angle -> ``(N, tokens, H)`` embedding-space tokens (MLP over 6D rotations)."""

    def __init__(self, hidden: int, tokens: int = 1):
        super().__init__()
        self.tokens = tokens
        self.net = nn.Sequential(nn.Linear(NUM_JOINTS * 6, hidden), nn.GELU(), nn.Linear(hidden, hidden * tokens))

    def forward(self, poses: torch.Tensor) -> torch.Tensor:
        x = rotvec_to_rot6d(poses.reshape(-1, NUM_JOINTS, 3)).reshape(-1, NUM_JOINTS * 6)
        return self.net(x).reshape(x.shape[0], self.tokens, -1)


def decoder_head_config(config: ChatPoseConfig, hidden: int, image_dim: int = 1280, image_tokens: int = 49,
                        image_detail_dim: int = 0) -> PoseDecoderConfig:
    """``config.decoder`` with its input sizes set: LLM states of width ``hidden`` and image tokens
    of these sizes."""
    return dataclasses.replace(config.decoder, state_dim=hidden, image_dim=image_dim, image_tokens=image_tokens,
                               image_detail_dim=image_detail_dim)


def make_pose_head(config: ChatPoseConfig, hidden: int, vision=None) -> nn.Module:
    """The head ``config.pose_head`` names, for LLM states of width ``hidden`` (and the vision
    encoder's tokens, for the decoder head)."""
    if config.pose_head == "decoder":
        if vision is None:
            return PoseDecoder(decoder_head_config(config, hidden))
        return PoseDecoder(decoder_head_config(config, hidden, vision.dim, vision.tokens,
                                               getattr(vision, "detail_dim", 0)))
    return PoseHead(hidden) if config.pose_head == "mlp" else AttendPoseHead(hidden)
