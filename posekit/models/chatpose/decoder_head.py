"""The pose decoder as ChatPose's head: read a decoder from a decoder file or a ChatPose folder,
tell how it was trained, and ship a trained decoder inside a ChatPose checkpoint.

The decoder itself (:mod:`posekit.models.decoder`) knows nothing of ChatPose; this module is where
the two meet, so that the dependency runs one way (ChatPose -> decoder)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch
from safetensors.torch import load_file

from posekit.encoders.vision import DEFAULT_VISION
from posekit.files import first_bad_tensor
from posekit.models.chatpose.checkpoint import WEIGHTS_FILE, read_meta
from posekit.models.chatpose.config import ChatPoseConfig, CheckpointError
from posekit.models.chatpose.heads import decoder_head_config
from posekit.models.chatpose.model import ChatPose
from posekit.models.decoder.network import PoseDecoder
from posekit.models.decoder.state_model import StatePoseModel, read_decoder_file

__all__ = ["load_decoder", "decoder_recipe", "stage_record", "attach_to_chatpose"]

RECIPE_KEYS = ("tasks", "dataset", "train", "history", "init")
"""What a decoder's training records about itself."""


def load_decoder(path: str | Path, llm=None) -> StatePoseModel:
    """A decoder file (``posekit train-decoder --out``), or the decoder head of a ChatPose checkpoint
    folder (``pose_head="decoder"``, e.g. the shipped one), its sizes read from the stored weights."""
    folder = Path(path)
    if not folder.is_dir():
        return StatePoseModel.load(folder, llm)
    settings = ChatPoseConfig.from_dict(read_meta(folder)["config"])
    if settings.pose_head != "decoder":
        raise ValueError(f"{folder} has a {settings.pose_head!r} pose head, not a decoder: pass a checkpoint "
                         "with pose_head='decoder' or a `posekit train-decoder --out` file")
    prefix = "pose_head."
    state = {k[len(prefix):]: v.float() if v.is_floating_point() else v
             for k, v in load_file(folder / WEIGHTS_FILE).items() if k.startswith(prefix)}
    bad = first_bad_tensor(state)
    if bad:
        raise CheckpointError(f"{folder / WEIGHTS_FILE} holds a bad decoder head ({bad}); train or export it again")
    detail = state["detail_proj.weight"].shape[1] * 4 if "detail_proj.weight" in state else 0
    decoder = PoseDecoder(decoder_head_config(settings, state["state_mean"].shape[0], state["image_proj.weight"].shape[1],
                                              state["image_pos"].shape[0], detail))
    decoder.load_state_dict(state)
    decoder.eval()
    return StatePoseModel(decoder, settings.head_layer, settings.backbone, llm, settings.vision_encoder or DEFAULT_VISION)


def decoder_recipe(path: str | Path) -> dict:
    """How a saved decoder was trained: ``tasks``, ``dataset``, ``train`` settings, ``history`` and the
    ``init`` it started from, read from a decoder file or from the ``decoder_training`` that a
    ChatPose folder records (None where not recorded)."""
    path = Path(path)
    before = read_meta(path).get("decoder_training", {}) if path.is_dir() else read_decoder_file(path)
    return {k: before.get(k) for k in RECIPE_KEYS}


def stage_record(path: str | Path) -> dict:
    """What a later stage records as its ``init``: the file it started from and that file's whole
    :func:`decoder_recipe` (whose own ``init`` is the stage before, and so on), so that the last
    stage's file or ChatPose folder tells every stage's settings, not only a path."""
    return {"file": str(path), **decoder_recipe(path)}


def attach_to_chatpose(model: StatePoseModel, source: str | Path, out: str | Path, extra: dict | None = None,
                       dtype: torch.dtype | None = torch.float16, backbone=None, force: bool = False) -> Path:
    """Ship a trained decoder as a ChatPose checkpoint: the ``source`` checkpoint's language parts
    (LoRA, token rows, pose encoder, image projector) with this decoder as its pose head
    (``pose_head="decoder"``, ``head_layer`` = the decoder's layer). ``backbone``: ``(model,
    tokenizer)`` to use instead of loading the one the config names (a fresh one: LoRA wraps it).
    ``out`` must be new, empty or a ChatPose checkpoint unless ``force``. Returns ``out``."""
    meta = ChatPose.read_meta(source)
    config = dataclasses.replace(ChatPoseConfig.from_dict(meta["config"]), pose_head="decoder", head_layer=model.layer,
                                 vision_encoder=model.vision, decoder=model.decoder.config)
    if config.backbone != model.backbone:
        raise ValueError(f"the decoder read {model.backbone!r} states but {source} uses {config.backbone!r}: pass "
                         f"--chatpose-from a ChatPose checkpoint trained on {model.backbone!r} "
                         f"(posekit train --llm {model.backbone})")
    chatpose = ChatPose(config, backbone=backbone)  # its own backbone: get_peft_model changes the model it wraps
    chatpose.load_trained(source, meta, strict=False)  # the old head's parts do not fit and are left out
    if chatpose.pose_head.config != model.decoder.config:
        raise ValueError(f"decoder config {model.decoder.config} does not fit ChatPose's head {chatpose.pose_head.config}")
    chatpose.pose_head.load_state_dict(model.decoder.state_dict())
    return chatpose.save(out, extra={**(extra or {}), "language_parts_from": str(source)}, dtype=dtype, force=force)
