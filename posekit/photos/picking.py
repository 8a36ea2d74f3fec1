"""Which person in a photo a request means.

The words first, where they name something a photo shows: a clothing colour ("the person in red": the
named colour nearest, in CIE Lab, to the median colour of each person's torso), a place ("on the far
left", "in the middle": the order of the people's boxes) or a size ("the tallest": box heights). Else a
pose the request implies (a ``guide``: ChatPose's answer, which reads the request and the image) picks
the fitted person whose pose is nearest to it; with neither, the largest person."""
from __future__ import annotations

import re

import numpy as np
import torch

from posekit.evaluation.metrics import procrustes_align
from posekit.photos.landmarks import PhotoPerson

__all__ = ["COLOR_NAMES", "request_attributes", "clothing_color", "pick_person", "nearest_person"]

COLOR_NAMES: dict[str, tuple[int, int, int]] = {
    "red": (200, 35, 35), "orange": (240, 140, 30), "yellow": (235, 215, 50), "green": (45, 160, 65),
    "blue": (40, 85, 200), "purple": (130, 55, 165), "pink": (240, 135, 185), "brown": (125, 80, 45),
    "black": (25, 25, 25), "white": (235, 235, 235), "grey": (128, 128, 128), "gray": (128, 128, 128)}
"""Basic colour terms and a typical sRGB for each (what "the person in red" is compared with)."""

_COLOR = re.compile(r"\b(" + "|".join(COLOR_NAMES) + r")\b", re.IGNORECASE)
_LEFT = re.compile(r"\b(far left|left-?most|on the left|to the left|left side)\b", re.IGNORECASE)
_RIGHT = re.compile(r"\b(far right|right-?most|on the right|to the right|right side)\b", re.IGNORECASE)
_MIDDLE = re.compile(r"\b(in the (middle|centre|center)|middle one|central)\b", re.IGNORECASE)
_TALL = re.compile(r"\b(tallest|biggest|largest)\b", re.IGNORECASE)
_SHORT = re.compile(r"\b(shortest|smallest)\b", re.IGNORECASE)


def request_attributes(text: str) -> dict[str, str]:
    """What a request says about the person's look or place: ``color``, ``position`` (left, right,
    middle), ``height`` (tallest, shortest); empty when it names none of these."""
    out = {}
    if match := _COLOR.search(text):
        out["color"] = match.group(1).lower().replace("gray", "grey")
    for key, value, pattern in (("position", "left", _LEFT), ("position", "right", _RIGHT),
                                ("position", "middle", _MIDDLE), ("height", "tallest", _TALL),
                                ("height", "shortest", _SHORT)):
        if key not in out and pattern.search(text):
            out[key] = value
    return out


def _lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB 0-255 ``(..., 3)`` -> CIE Lab (D65)."""
    c = np.asarray(rgb, dtype=np.float64) / 255.0
    c = np.where(c > 0.04045, ((c + 0.055) / 1.055) ** 2.4, c / 12.92)
    xyz = c @ np.array([[0.4124, 0.2126, 0.0193], [0.3576, 0.7152, 0.1192], [0.1805, 0.0722, 0.9505]])
    xyz = xyz / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1)


def clothing_color(image: np.ndarray, person: PhotoPerson) -> np.ndarray:
    """Median sRGB ``(3,)`` of the torso (the quadrilateral of shoulders and hips, its inner part)."""
    ls, rs, lh, rh = (person.image_xy[k] for k in (11, 12, 23, 24))
    u, v = np.meshgrid(np.linspace(0.25, 0.75, 7), np.linspace(0.2, 0.8, 7))
    top, bottom = ls[None, None] * (1 - u[..., None]) + rs * u[..., None], lh * (1 - u[..., None]) + rh * u[..., None]
    points = (top * (1 - v[..., None]) + bottom * v[..., None]).reshape(-1, 2)
    height, width = image.shape[:2]
    xs = np.clip(np.round(points[:, 0]).astype(int), 0, width - 1)
    ys = np.clip(np.round(points[:, 1]).astype(int), 0, height - 1)
    return np.median(image[ys, xs, :3].astype(np.float64), axis=0)


def nearest_person(candidates: torch.Tensor, answer: torch.Tensor) -> int:
    """Index of the candidate joints ``(P, 24, 3)`` nearest to ``answer`` ``(24, 3)`` after a
    Procrustes alignment of each (shape of the pose, not where or how it is turned)."""
    aligned = procrustes_align(candidates.double(), answer.double().expand_as(candidates))
    return int((aligned - answer.double()).norm(dim=-1).mean(-1).argmin())


def pick_person(text: str, image: np.ndarray, people: list[PhotoPerson], joints: torch.Tensor | None = None,
                guide: torch.Tensor | None = None) -> tuple[int, str]:
    """The index of the person ``text`` means among ``people`` (with their fitted ``joints`` ``(P, 24, 3)``
    and an optional ``guide`` pose's joints ``(24, 3)``), and why (see the module docstring)."""
    if len(people) == 1:
        return 0, "the only person found"
    said = request_attributes(text)
    if "color" in said:
        target = _lab(np.array(COLOR_NAMES[said["color"]]))
        gaps = [float(np.linalg.norm(_lab(clothing_color(image, p)) - target)) for p in people]
        return int(np.argmin(gaps)), f"clothing nearest to {said['color']}"
    if "position" in said:
        centres = [(p.box[0] + p.box[2]) / 2 for p in people]
        order = np.argsort(centres)
        index = {"left": order[0], "right": order[-1], "middle": order[len(order) // 2]}[said["position"]]
        return int(index), f"the {said['position']} of {len(people)} people"
    if "height" in said:
        heights = [p.height_px for p in people]
        return int(np.argmax(heights) if said["height"] == "tallest" else np.argmin(heights)), said["height"]
    if guide is not None and joints is not None:
        return nearest_person(joints, guide), "the fitted pose nearest to the model's answer"
    return 0, "the largest person"
