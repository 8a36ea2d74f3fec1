"""Image loading and the frozen image encoder."""
import numpy as np
import pytest
import torch
from PIL import Image

from posekit.encoders.vision import CLIPEncoder, EfficientNetEncoder, load_image, make_vision_encoder


def test_load_image_accepts_paths_arrays_and_pil(tmp_path):
    array = (np.random.default_rng(0).random((40, 30, 3)) * 255).astype(np.uint8)
    Image.fromarray(array).save(tmp_path / "a.png")
    from_path, from_array = load_image(tmp_path / "a.png", size=16), load_image(array, size=16)
    from_pil = load_image(Image.fromarray(array), size=16)
    assert from_path.shape == (3, 16, 16) and 0 <= float(from_path.min()) and float(from_path.max()) <= 1
    assert torch.equal(from_path, from_array) and torch.equal(from_array, from_pil)


def test_load_image_errors_name_the_input(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.png"):
        load_image(tmp_path / "nope.png")
    (tmp_path / "bad.png").write_text("not an image")
    with pytest.raises(ValueError, match="could not be read"):
        load_image(tmp_path / "bad.png")
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        load_image(np.zeros((4, 4)))


def test_efficientnet_gives_49_frozen_tokens():
    encoder = make_vision_encoder("efficientnet-lite0")
    assert isinstance(encoder, EfficientNetEncoder)
    encoder.train()
    assert not encoder.training and not any(p.requires_grad for p in encoder.parameters())
    tokens = encoder(torch.rand(2, 3, 224, 224))
    assert tokens.shape == (2, 49, 1280) and torch.isfinite(tokens).all()
    with pytest.raises(ValueError, match="unknown vision encoder"):
        make_vision_encoder("clip-huge")


def test_a_clip_tower_plugs_in_by_folder(tmp_path):
    from transformers import CLIPVisionConfig, CLIPVisionModel

    config = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                              image_size=32, patch_size=8)
    CLIPVisionModel(config).save_pretrained(tmp_path / "clip")
    encoder = make_vision_encoder(str(tmp_path / "clip"))
    assert isinstance(encoder, CLIPEncoder) and encoder.tokens == 16 and encoder.dim == 32
    assert encoder(torch.rand(2, 3, 224, 224)).shape == (2, 16, 32)


def test_detail_features_keep_the_coarse_tokens_and_add_colour_cells():
    plain, detail = EfficientNetEncoder(), make_vision_encoder("efficientnet-lite0-detail")
    images = torch.rand(2, 3, 224, 224)
    images[1, :, 32:48, 160:176] = torch.tensor([1.0, 0.0, 0.0])[:, None, None]  # a red 16 px cell: 14 x 14 cell (2, 10)
    tokens = detail(images)
    assert detail.dim == 1280 and detail.detail_dim == 4 * 155 and tokens.shape == (2, 49, 1280 + 620)
    assert torch.allclose(tokens[..., :1280], plain(images), atol=1e-5)  # what the LLM's image projector reads
    cell = tokens[1, 1 * 7 + 5, 1280:].reshape(4, 155)[0 * 2 + 0]  # token (1, 5), its top-left sub-cell (2, 10)
    assert torch.allclose(cell[:3], torch.tensor([1.0, 0.0, 0.0]))
    other = tokens[0, 1 * 7 + 5, 1280:].reshape(4, 155)[0]
    assert not torch.allclose(other[:3], torch.tensor([1.0, 0.0, 0.0]), atol=0.1)


def test_float_images_in_0_1_are_scaled_and_unclear_ones_refused():
    grey = np.full((32, 32, 3), 0.5, dtype=np.float32)
    assert abs(float(load_image(grey, size=32).mean()) - 128 / 255) < 1e-3  # not cast to black
    assert torch.equal(load_image((grey * 255).round().astype(np.uint8), size=32), load_image(grey, size=32))
    with pytest.raises(ValueError, match="span"):
        load_image(np.full((8, 8, 3), 300.0), size=8)
    with pytest.raises(ValueError, match="NaN"):
        load_image(np.full((8, 8, 3), np.nan), size=8)
