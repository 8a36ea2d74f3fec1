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
  states of the tokens before it, read at a chosen layer (``head_layer``); measured in docs/model-design.md;
- a pose decoder head (``pose_head="decoder"``, :mod:`posekit.models.decoder`): each pose comes from
  a transformer decoder over the *frozen* LLM's states of the request at layer ``head_layer``
  (LoRA switched off for that pass), the input pose's joints and the image's feature tokens;
  the LLM (with LoRA) only writes the answer's words and places the ``<POSE>`` tokens. The
  decoder's inputs are a pure function of the request, so it trains on cached states;
- half-precision inference (:meth:`ChatPose.set_dtype`): float16 weights halve the bytes read per
  generated token, which is what bounds generation speed on a CPU.

The base LLM's weights are never changed or saved: the new tokens get their own embedding rows
and output logits, so a checkpoint holds only the trained parts (LoRA, head, encoders, token rows)
and the configuration (:meth:`ChatPose.save` / :meth:`ChatPose.load`).
"""
from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from posekit.body.model import load_body_model
from posekit.body.rotations import rot6d_to_rotmat, rotmat_to_rotvec, rotvec_to_rot6d, rotvec_to_rotmat
from posekit.body.skeleton import NUM_JOINTS
from posekit.datasets.records import POSE_IN_TOKEN, POSE_TOKEN, Record
from posekit.encoders.llm import load_backbone
from posekit.encoders.state_cache import request_states
from posekit.encoders.vision import load_image, make_vision_encoder
from posekit.models.baselines import MeanPose
from posekit.models.chatpose.batching import Batch, collate, tokenise
from posekit.models.chatpose.checkpoint import (
    default_checkpoint_dir,
    fingerprint,
    load_trained,
    read_meta,
    save_checkpoint,
)
from posekit.models.chatpose.config import DTYPES, SPECIAL_TOKENS, ChatPoseConfig, CheckpointError
from posekit.models.chatpose.generation import Answer, forced_pose, generate
from posekit.models.chatpose.heads import PoseEncoder, make_pose_head
from posekit.models.chatpose.precision import HalfWeightLinear, half_weights
from posekit.models.decoder.inference import align_to_records, decode_requests
from posekit.models.decoder.recall import request_text, sentence_inputs
from posekit.models.losses import joint_l1
from posekit.models.part_composer import COMPOSER_FILE, PartComposer
from posekit.paths import AssetNotFoundError

__all__ = ["ChatPose", "load_chatpose"]


class ChatPose(nn.Module):
    """LLM + ``<POSE>`` head + pose and image inputs. Build with a config (the backbone loads offline)
    or pass ``backbone=(model, tokenizer)`` (tests use a tiny random model)."""

    name = "chatpose"
    missing_poses = 0
    """Answers of the last :meth:`predict` that wrote no ``<POSE>`` and got one appended."""

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
        with warnings.catch_warnings():  # peft reads a property transformers deprecates: not the user's concern
            warnings.filterwarnings("ignore", message=".*is_gradient_checkpointing.*", category=FutureWarning)
            self.llm = get_peft_model(llm, lora)
        embed = llm.get_input_embeddings().weight
        self.token_embed = nn.Parameter(embed.detach().mean(0, keepdim=True).repeat(len(SPECIAL_TOKENS), 1).clone())
        self.token_logit = nn.Parameter(torch.zeros(len(SPECIAL_TOKENS), self.hidden))
        layers = llm.config.num_hidden_layers
        if not -1 <= config.head_layer <= layers:
            raise ValueError(f"head_layer must be -1 (last) or 0..{layers} for this backbone, got {config.head_layer}")
        if vision is None and config.vision_encoder:

            vision = make_vision_encoder(config.vision_encoder)
        self.pose_head = make_pose_head(config, self.hidden, vision)
        self.pose_encoder = PoseEncoder(self.hidden, config.pose_in_tokens)
        self.vision = vision
        if vision is not None:
            self.image_projector = nn.Sequential(nn.Linear(vision.dim, self.hidden), nn.GELU(),
                                                 nn.Linear(self.hidden, self.hidden))
        self._body = None
        self.set_part_composer(None)

    def set_part_composer(self, composer) -> "ChatPose":
        """Give text answers a :class:`posekit.models.part_composer.PartComposer` (None: none): each
        clause of a request sets the joints it speaks of, over the decoder's answer or an edit's given
        pose. It is kept outside the trained parts (its own file in a checkpoint folder) and runs on
        the CPU in float32."""
        object.__setattr__(self, "part_composer", composer)  # not a submodule: not in trained.safetensors
        return self

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
            dtype = getattr(torch, dtype)
        if dtype not in [getattr(torch, name) for name in DTYPES]:
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
        if self.config.pose_head != "decoder":  # the decoder head reads the LLM without LoRA: keep it apart
            self.llm.merge_adapter()  # LoRA folded into the weights: fewer products per token
        half_weights(self.llm.get_base_model(), dtype)
        return self

    @property
    def inference_only(self) -> bool:
        """True after :meth:`set_dtype` to half precision (LoRA merged or weights cast): such a
        model cannot be trained; load the checkpoint again in float32 for that."""
        return self.dtype != torch.float32 or any(isinstance(m, HalfWeightLinear) for m in self.llm.modules())

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Exactly the trained parts: LoRA, token rows, head (with its fitted buffers: the decoder
        head's state standardisation and mean pose), pose encoder, image projector."""
        state = {n: p.detach() for n, p in self.named_parameters() if p.requires_grad}
        state.update({f"pose_head.{n}": b.detach() for n, b in self.pose_head.named_buffers()})
        return state

    def init_pose_head(self, records: list[Record]) -> None:
        """Start the head at the mean target pose of ``records`` (rotation average per joint)."""

        pose = MeanPose().fit([r for r in records if r.target_poses]).pose
        if self.config.pose_head == "decoder":
            with torch.no_grad():
                self.pose_head.mean_6d.copy_(rotvec_to_rot6d(pose))
        else:
            self.pose_head.reset_to(pose)

    # ------------------------------------------------------------------------ decoder head
    @torch.no_grad()
    def request_states(self, records: list[Record]):
        """The frozen LLM's states at ``head_layer`` of each record's request, LoRA switched off
        (:func:`posekit.encoders.state_cache.request_states`, not cached: a chat's requests are new)."""

        with self.llm.disable_adapter():
            return request_states(records, self.config.head_layer, self.config.backbone, progress=False, cache=False,
                                  model=(self.llm.get_base_model(), self.tokenizer),
                                  system_prompt=self.config.system_prompt)

    @torch.no_grad()
    def decoder_poses(self, records: list[Record], root: Path | None, counts: list[int]) -> list[torch.Tensor]:
        """The decoder head's rotation matrices ``(counts[i], 24, 3, 3)`` for each record's request."""

        states = self.request_states(records)
        pose_in = [r.inputs()[-1] if r.input_poses else None for r in records]
        images = None
        if self.vision is not None:
            images = align_to_records(records, lambda chosen: self.vision(torch.stack([
                load_image(Path(root or ".") / r.image if isinstance(r.image, str) else r.image) for r in chosen
            ]).to(self.device)).float().cpu())
        recall = sentence_inputs(records) if self.pose_head.config.reads_sentence else None
        poses = [p.to(self.device) for p in decode_requests(self.pose_head, states, pose_in, images, counts, recall=recall)]
        if self.part_composer is not None:
            poses = self.compose_parts(records, poses, pose_in)
        return poses

    def compose_parts(self, records: list[Record], poses: list[torch.Tensor], pose_in: list) -> list[torch.Tensor]:
        """The part composer over each text request's poses (``(P, 24, 3, 3)`` each); image requests
        are left as the decoder answered them."""
        text = [k for k, r in enumerate(records) if r.image is None and len(poses[k])]
        if not text:
            return poses
        rows = [(k, p) for k in text for p in range(len(poses[k]))]
        bases = torch.stack([rotmat_to_rotvec(poses[k][p].float().cpu()) if pose_in[k] is None
                             else pose_in[k].reshape(NUM_JOINTS, 3).float().cpu() for k, p in rows])
        composed, acted = self.part_composer.compose_where([request_text(records[k]) for k, _ in rows], bases,
                                                           [pose_in[k] is not None for k, _ in rows])
        out = [p.clone() for p in poses]
        for (k, p), pose, did in zip(rows, rotvec_to_rotmat(composed), acted):
            if did:  # else the decoder's answer stays (an edit's too, not its given pose)
                out[k][p] = pose.to(out[k])
        return out

    # ------------------------------------------------------------------------------ tokenising

    def tokenise(self, record: Record, add_generation_prompt: bool) -> tuple[list[int], list[int]]:
        """Token ids and labels of ``record`` (:func:`posekit.models.chatpose.batching.tokenise`)."""
        return tokenise(self, record, add_generation_prompt)
    def prompt_length(self, record: Record) -> int:
        """Tokens the model would read to answer ``record`` (image and pose tokens included)."""
        return len(self.tokenise(record, add_generation_prompt=True)[0])

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
        """Records -> a padded :class:`Batch` (:func:`posekit.models.chatpose.batching.collate`)."""
        return collate(self, records, root, generation)
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
            # under mixed precision (autocast) the encoder's output is half precision; the embeddings are not
            embeds = embeds.index_put((rows, cols), self.pose_encoder(poses).reshape(-1, self.hidden).to(embeds.dtype))
        if len(batch.image_positions):
            rows, cols = batch.image_positions.T
            tokens = self.vision(batch.images)[..., :self.vision.dim]  # detail features are the decoder's only
            projected = self.image_projector(tokens.to(self.dtype))  # (I, tokens, H)
            embeds = embeds.index_put((rows, cols), projected.reshape(-1, self.hidden).to(embeds.dtype))
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

    def head_states(self, out) -> torch.Tensor:
        return out.last_hidden_state if self.config.head_layer == -1 else out.hidden_states[self.config.head_layer]

    def hidden_states(self, batch: Batch) -> tuple[torch.Tensor, torch.Tensor]:
        """Last-layer hidden states ``(B, T, H)`` and the head's (the same tensor unless
        ``config.head_layer`` picks another layer) of a whole batch (no cache)."""
        out = self.decoder(inputs_embeds=self.embed(batch), attention_mask=batch.attention_mask,
                           output_hidden_states=self.config.head_layer != -1)
        return out.last_hidden_state, self.head_states(out)

    def forward(self, batch: Batch) -> dict[str, torch.Tensor]:
        """Training forward: ``{"loss", "ce", "rotmat", "joint", "rotmats"}`` (scalars, and ``(P, 24, 3, 3)``)."""
        hidden, states = self.hidden_states(batch)
        zero = hidden.sum() * 0
        ce = zero
        answer = batch.labels[:, 1:] != -100
        if answer.any():
            logits = self.logits(hidden[:, :-1][answer])  # only where an answer token is predicted
            ce = F.cross_entropy(logits, batch.labels[:, 1:][answer])
        rot_loss = joint_loss = zero
        rotmats = hidden.new_zeros(0, NUM_JOINTS, 3, 3)
        # The decoder head trains on cached states (posekit train-decoder); here only the language.
        if len(batch.pose_positions) and self.config.pose_head != "decoder":
            rows, cols = batch.pose_positions.T
            rotmats = self.decode_poses(states, batch.attention_mask, rows, cols)
            target = rotvec_to_rotmat(batch.target_poses)
            rot_loss = F.l1_loss(rotmats, target)
            if self.config.joint_weight > 0:
                joint_loss = self._joint_l1(rotmats, target)
        c = self.config
        loss = c.ce_weight * ce + c.rotmat_weight * rot_loss + c.joint_weight * joint_loss
        return {"loss": loss, "ce": ce.detach(), "rotmat": rot_loss.detach(), "joint": joint_loss.detach(),
                "rotmats": rotmats}

    def _joint_l1(self, rotmats: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self._body is None:

            self._body = [load_body_model(device=rotmats.device)]  # a list: kept out of the state dict
        return joint_l1(self._body[0], rotmats, target)

    # ---------------------------------------------------------------------------- generation
    def generate(self, records: list[Record], root: Path | None = None, **options) -> list[Answer]:
        """Answer each record's conversation (:func:`posekit.models.chatpose.generation.generate`: options
        ``max_new_tokens``, ``do_sample``, ``temperature``, ``top_p``, ``generator``, ``max_poses``,
        ``no_repeat_ngram_size``)."""
        return generate(self, records, root, **options)
    def forced_pose(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        """``(N, 24, 3)``: the pose at a ``<POSE>`` appended as the whole answer (:func:`posekit.models.chatpose.generation.forced_pose`)."""
        return forced_pose(self, records, root)
    # ----------------------------------------------------------------- evaluation interface
    def fit(self, records: list[Record], root: Path | None = None) -> "ChatPose":
        """Already trained models are used as they are (train with :func:`posekit.models.chatpose.training.train`)."""
        return self

    def predict(self, records: list[Record], root: Path | None = None, batch_size: int = 16,
                progress: bool = False, max_new_tokens: int = 160, no_repeat_ngram_size: int = 0) -> torch.Tensor:
        """``(N, 24, 3)``: the first pose the model writes for each record's request (within
        ``max_new_tokens``: room for a description first; the answer stops there). A model that
        writes no ``<POSE>`` gets one appended (counted in ``self.missing_poses``). With the
        decoder head the first pose is a function of the request alone, so no words are generated.
        ``no_repeat_ngram_size``: see :meth:`generate`."""
        from tqdm.auto import tqdm

        prompts = [self.prompt_record(r) for r in records]
        self.missing_poses = 0
        if self.config.pose_head == "decoder":  # the first pose depends on the request only, not on the words
            return self.forced_pose(prompts, root)
        order = sorted(range(len(prompts)), key=lambda i: len(str(prompts[i].messages)))
        out = torch.zeros(len(records), NUM_JOINTS, 3)
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

    def describe(self, records: list[Record], root: Path | None = None, batch_size: int = 16,
                 max_new_tokens: int = 96) -> list[str]:
        """The model's answer to each record's request in words (``<POSE>`` tokens removed): what
        the pose2text evaluation (:func:`posekit.evaluation.benchmark.evaluate_descriptions`) reads."""
        prompts = [self.prompt_record(r) for r in records]
        out = []
        for start in range(0, len(prompts), batch_size):
            answers = self.generate(prompts[start:start + batch_size], root, max_new_tokens=max_new_tokens)
            out += [" ".join(a.text.replace(POSE_TOKEN, " ").split()) for a in answers]
        return out

    # ------------------------------------------------------------------------ save and load
    def save(self, path: str | os.PathLike, extra: dict | None = None, dtype: torch.dtype | None = None,
             force: bool = False) -> Path:
        """Write the trained parts and the config to folder ``path`` (:func:`posekit.models.chatpose.checkpoint.save_checkpoint`)."""
        return save_checkpoint(self, path, extra, dtype, force)
    def fingerprint(self) -> dict:
        return fingerprint(self)
    @staticmethod
    def read_meta(path: str | os.PathLike) -> dict:
        return read_meta(path)
    @classmethod
    def load(cls, path: str | os.PathLike, backbone=None, vision=None, device=None,
             dtype: torch.dtype | str | None = None) -> "ChatPose":
        """Rebuild a saved model: the backbone named in its config (or ``backbone=(model, tokenizer)``)
        plus its trained parts. Any mismatch raises :class:`CheckpointError` naming it. ``dtype``:
        see :meth:`set_dtype` (None keeps float32)."""
        meta = cls.read_meta(path)
        model = cls(ChatPoseConfig.from_dict(meta["config"]), backbone=backbone, vision=vision)
        model.load_trained(path, meta)
        composer = Path(path) / COMPOSER_FILE
        if composer.is_file():
            model.set_part_composer(PartComposer.load(composer))
        if device is not None:
            model.to(device)
        return model.set_dtype(dtype) if dtype is not None else model

    def load_trained(self, path: str | os.PathLike, meta: dict | None = None, strict: bool = True) -> list[str]:
        """Copy a checkpoint's trained parts into this model (:func:`posekit.models.chatpose.checkpoint.load_trained`)."""
        return load_trained(self, path, meta, strict)


def load_chatpose(path: str | os.PathLike | None = None, device=None, dtype: torch.dtype | str | None = None,
                  release: bool = False) -> ChatPose:
    """The shipped (or given) trained ChatPose model, ready to chat (``dtype``: see
    :meth:`ChatPose.set_dtype`; None keeps float32, as the evaluation numbers were measured).
    Without ``path``: the evaluated checkpoint, or with ``release`` the release checkpoint
    (:func:`posekit.models.chatpose.checkpoint.default_checkpoint_dir`)."""
    try:
        folder = default_checkpoint_dir(path, release=release)
    except AssetNotFoundError as err:
        raise CheckpointError(str(err)) from err
    return ChatPose.load(folder, device=device, dtype=dtype)
