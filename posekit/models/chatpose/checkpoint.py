"""ChatPose checkpoints: a folder with the trained parts (``trained.safetensors``) and the config
and provenance (``config.json``); the base LLM is never saved."""
from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

import torch

from posekit.files import atomic_dir, copy_other_files, first_bad_tensor, first_kind_mismatch, read_json
from posekit.models.chatpose.config import CheckpointError
from posekit.outputs import MARKER, check_replaceable, copy_marker, mark, read_fields
from posekit.paths import AssetNotFoundError, data_dir, resolve_file

__all__ = ["save_checkpoint", "read_meta", "load_trained", "fingerprint", "default_checkpoint_dir",
           "RELEASE_CHECKPOINT", "FORMAT_VERSION", "WEIGHTS_FILE", "CONFIG_FILE", "is_checkpoint_folder"]

FORMAT_VERSION = 1
WEIGHTS_FILE = "trained.safetensors"
CONFIG_FILE = "config.json"


def save_checkpoint(model, path: str | os.PathLike, extra: dict | None = None, dtype: torch.dtype | None = None,
                    force: bool = False) -> Path:
    """Write the trained parts and the config to folder ``path`` (atomically replaced). Other files
    an existing folder holds (its README, logs, results) are kept. A folder that holds files but no
    ``config.json`` is not a checkpoint and is refused (:class:`posekit.files.NotOwnedError`) unless
    ``force``.

    ``dtype=torch.float16`` halves the file (for shipping); loading casts back to the model's."""
    from safetensors.torch import save_file

    path = Path(path)
    meta = {"format_version": FORMAT_VERSION, "config": model.config.to_dict(), "backbone": fingerprint(model),
            "token_ids": model.token_ids, **(extra or {})}
    check_replaceable(path, force, legacy=is_checkpoint_folder, what="checkpoint folder",
                      names=(WEIGHTS_FILE, CONFIG_FILE))
    with atomic_dir(path) as tmp:
        state = model.trainable_state()  # whole-number buffers (indices) keep their dtype
        save_file({k: (v.to(dtype) if dtype is not None and v.is_floating_point() else v).contiguous().cpu()
                   for k, v in state.items()}, tmp / WEIGHTS_FILE)
        (tmp / CONFIG_FILE).write_text(json.dumps(meta, indent=2))
        copy_other_files(path, tmp, skip=(WEIGHTS_FILE, CONFIG_FILE, MARKER))
        copy_marker(path, tmp)
        mark(tmp, "save-checkpoint", [WEIGHTS_FILE, CONFIG_FILE])
    return path


def is_checkpoint_folder(folder: str | os.PathLike) -> bool:
    """Whether ``folder`` holds a ChatPose checkpoint that posekit wrote before folders carried
    :data:`posekit.outputs.MARKER`: its ``config.json`` holds posekit's checkpoint fields (not only a
    file of that name, which many tools write)."""
    meta = read_fields(Path(folder) / CONFIG_FILE)
    return ("format_version" in meta and isinstance(meta.get("config"), dict) and isinstance(meta.get("token_ids"), dict)
            and (Path(folder) / WEIGHTS_FILE).is_file())


def fingerprint(model) -> dict:
    c = model.llm.get_base_model().config
    return {"model_type": c.model_type, "hidden_size": c.hidden_size, "num_hidden_layers": c.num_hidden_layers,
            "vocab_size": model.base_vocab}


def read_meta(path: str | os.PathLike) -> dict:
    path = Path(path)
    if not (path / CONFIG_FILE).is_file() or not (path / WEIGHTS_FILE).is_file():
        raise CheckpointError(f"{path} is not a ChatPose checkpoint: it needs {CONFIG_FILE} and {WEIGHTS_FILE}")
    try:
        meta = read_json(path / CONFIG_FILE, "checkpoint config")
    except ValueError as err:
        raise CheckpointError(f"{err}; export or train the checkpoint again") from None
    version = meta.get("format_version")
    if type(version) is not int:
        raise CheckpointError(f"{path / CONFIG_FILE}: format_version must be the number {FORMAT_VERSION}, got "
                              f"{version!r} ({type(version).__name__}); the file was edited or damaged: export the "
                              "checkpoint again")
    if version != FORMAT_VERSION:
        raise CheckpointError(f"{path} has format version {version}, this posekit reads {FORMAT_VERSION}: use the "
                              "posekit that wrote it, or train and export the checkpoint again")
    return meta


def load_trained(model, path: str | os.PathLike, meta: dict | None = None, strict: bool = True) -> list[str]:
    """Copy a checkpoint's trained parts into this model. ``strict=False`` (start a run from
    another run's parts) loads the parts both have with the same shapes and returns the names of
    this model's trained parts it left at their initial values."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    meta = meta or read_meta(path)
    mismatched = {k: (v, meta["backbone"].get(k)) for k, v in fingerprint(model).items() if meta["backbone"].get(k) != v}
    if mismatched:
        details = ", ".join(f"{k}: checkpoint {b!r} vs backbone {a!r}" for k, (a, b) in mismatched.items())
        raise CheckpointError(f"{path} was trained on another backbone ({details})")
    if meta["token_ids"] != model.token_ids:
        raise CheckpointError(f"{path}: special token ids {meta['token_ids']} differ from the tokenizer's {model.token_ids}")
    try:
        state = load_file(path / WEIGHTS_FILE)
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"{path / WEIGHTS_FILE} is corrupt or truncated: {err}") from err
    bad = first_bad_tensor(state)
    if bad:
        raise CheckpointError(f"{path / WEIGHTS_FILE} holds bad weights ({bad}): a diverged or damaged checkpoint; "
                              "export or train it again")
    own = {**dict(model.named_parameters()), **model.trainable_state()}
    wrong = first_kind_mismatch(state, own)
    if wrong:
        raise CheckpointError(f"{path / WEIGHTS_FILE}: {wrong}, so its values would load changed: the file was "
                              "converted or damaged; export or train the checkpoint again")
    expected = set(model.trainable_state())
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


RELEASE_CHECKPOINT = "chatpose-release"
"""The chat's checkpoint (trained on every canonical pose) beside the evaluated one (``chatpose``,
trained on the training split's poses only, for held-out test numbers)."""


def default_checkpoint_dir(path: str | os.PathLike | None = None, release: bool = False) -> Path:
    """The ChatPose checkpoint folder: ``path`` > ``$POSEKIT_CHECKPOINTS/chatpose`` > ``data/checkpoints/chatpose``
    (the evaluated checkpoint). With ``release`` (the chat's default) the release checkpoint
    (``chatpose-release`` in the same places) when there is one, else the evaluated one with a
    warning. A file inside a checkpoint (its ``config.json`` or weights) stands for its folder."""
    if release and path is None:
        try:
            return resolve_file(CONFIG_FILE, env_var="POSEKIT_CHECKPOINTS", defaults=(data_dir() / "checkpoints",),
                                subdirs=(RELEASE_CHECKPOINT,), what="ChatPose release checkpoint").parent
        except AssetNotFoundError:
            warnings.warn(f"no {RELEASE_CHECKPOINT} checkpoint found: using the evaluated one (trained on the "
                          "training poses only)", stacklevel=2)
    if path is not None and Path(path).expanduser().is_file():
        file = Path(path).expanduser()
        if (file.parent / CONFIG_FILE).is_file():
            return file.parent
        raise CheckpointError(f"{file} is a file; pass the ChatPose checkpoint folder (holding {CONFIG_FILE} and "
                              "trained.safetensors)")
    config = resolve_file(CONFIG_FILE, path=path, env_var="POSEKIT_CHECKPOINTS",
                          defaults=(data_dir() / "checkpoints",), subdirs=("chatpose", ""), what="ChatPose checkpoint",
                          hint="Train one with `posekit train` or point to a folder holding config.json and trained.safetensors.")
    return config.parent
