"""Image loading and the frozen image encoder."""
import numpy as np
import pytest
import torch
from PIL import Image

from posekit.encoders.vision import CLIPEncoder, EfficientNetEncoder, load_image, make_vision_encoder, read_rgb


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


def _person_like(size=(96, 64)) -> np.ndarray:
    """A smooth 8-bit greyscale gradient with a dark block (not blank)."""
    h, w = size
    grey = np.tile(np.linspace(30, 220, w), (h, 1))
    grey[h // 4:3 * h // 4, w // 3:2 * w // 3] = 10
    return grey


def test_every_image_mode_is_read_with_its_range(tmp_path):
    """16-bit greyscale is not read as white, palettes and CMYK convert, transparency lies over white,
    an animation gives its first frame and the EXIF orientation is applied (posekit.encoders.vision.rgb8)."""
    grey = _person_like()
    sixteen = tmp_path / "sixteen.png"
    Image.fromarray((grey * 257).astype(np.uint16)).save(sixteen)
    assert Image.open(sixteen).mode.startswith("I")
    read = read_rgb(sixteen)
    assert read.shape == (96, 64, 3) and read.dtype == np.uint8
    assert np.abs(read[..., 0].astype(float) - grey).max() <= 1.0  # the values, not a saturated white
    eight = Image.fromarray(grey.astype(np.uint8))
    for mode in ("L", "P", "CMYK", "RGBA", "LA"):
        assert np.abs(read_rgb(eight.convert(mode)).astype(float)[..., 0] - grey).max() <= 3.0, mode
    clear = np.zeros((8, 8, 4), dtype=np.uint8)  # fully transparent black: shown over white
    assert (read_rgb(Image.fromarray(clear, "RGBA")) == 255).all()
    frames = [Image.fromarray(grey.astype(np.uint8)).convert("RGB"), Image.new("RGB", (64, 96), (0, 0, 0))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert np.abs(read_rgb(tmp_path / "anim.gif").astype(float)[..., 0] - grey).max() <= 8.0  # the first frame
    turned = Image.fromarray(grey.astype(np.uint8)).convert("RGB")
    exif = turned.getexif()
    exif[0x0112] = 6  # "rotate 90 degrees clockwise to display"
    turned.save(tmp_path / "turned.jpg", exif=exif)
    assert read_rgb(tmp_path / "turned.jpg").shape == (64, 96, 3)


def test_a_tiny_or_blank_photo_is_refused_naming_it(tmp_path):
    from posekit.encoders.vision import UnseeableImageError, read_photo_rgb

    Image.new("RGB", (1, 1), (200, 10, 10)).save(tmp_path / "dot.png")
    with pytest.raises(UnseeableImageError, match=r"dot\.png is 1 x 1 pixels: too small"):
        read_photo_rgb(tmp_path / "dot.png")
    Image.new("RGB", (120, 90), (0, 0, 0)).save(tmp_path / "black.png")
    with pytest.raises(UnseeableImageError, match=r"black\.png is blank"):
        read_photo_rgb(tmp_path / "black.png")
    assert read_photo_rgb(Image.fromarray(_person_like().astype(np.uint8))).shape == (96, 64, 3)
