"""A photo in the chat: the people in it are found and their bodies fitted once
(:mod:`posekit.photos`), and each message about them is routed:

- a description or a yes/no question ("What is this person doing?", "Describe her pose.") is answered
  by the chat's tools from the fitted pose of the person (the one the words name by colour, place or
  size, else the largest found);
- an edit ("Make him raise both arms.") goes to the model as an edit of that fitted pose (``<pose_in>``);
- anything else ("Show me the pose of the person in this photo.", "the one in red", "the one about to
  kick the ball") goes to the model with the image, and each pose of its answer becomes the fitted body of
  the person the request means (:func:`posekit.photos.picking.pick_person`: what the words say of the
  person's look or place, else the person whose fitted pose is nearest to the model's answer).
"""
from __future__ import annotations

import dataclasses
import re

import numpy as np
import torch

from posekit.chat.tools import is_description_request, yes_no_question
from posekit.encoders.vision import read_rgb
from posekit.photos import NoPersonError, PhotoFit, PhotoPerson, find_people, fit_people, photo_path_available
from posekit.photos.picking import pick_person

__all__ = ["PhotoReading", "read_chat_photo", "photo_route", "is_edit_request", "photo_path_available"]

_EDIT = re.compile(
    r"^\s*(?:(?:ok(?:ay)?|now|then|please|can you|could you|would you)[,\s]+)*"
    r"(?:(?:make|have|let|get)\b|what if\b|"
    r"(?:raise|lift|lower|drop|put|bend|straighten|turn|rotate|twist|spread|cross|open|close|tilt|bring|extend|"
    r"stretch|move|kick|point|swing|fold|uncross)\b.*\b(?:him|her|them|his|hers|their|its|the person|this person|"
    r"that person)\b)", re.IGNORECASE)


def is_edit_request(text: str) -> bool:
    """Whether ``text`` asks to change the person's pose ("Make him raise both arms.", "Now bend her
    left knee.") rather than to show or describe it."""
    return bool(_EDIT.search(text))


def photo_route(text: str, tools: bool = True) -> str:
    """``"tool"`` (describe or a yes/no question), ``"edit"`` or ``"show"`` for a message about a photo."""
    if tools and (is_description_request(text) or yes_no_question(text) is not None):
        return "tool"
    return "edit" if is_edit_request(text) else "show"


@dataclasses.dataclass
class PhotoReading:
    """The people of the conversation's photo and their fitted bodies."""

    people: list[PhotoPerson]
    fit: PhotoFit
    image: np.ndarray
    """``(H, W, 3)`` uint8, the photo."""

    def pose(self, index: int = 0) -> torch.Tensor:
        """``(24, 3)`` fitted axis-angle pose of person ``index`` (0: the largest)."""
        return self.fit.pose[index]

    def pick(self, text: str, guide: torch.Tensor | None = None) -> tuple[int, str]:
        """The person ``text`` means and why (:func:`posekit.photos.picking.pick_person`; ``guide``: the
        joints ``(24, 3)`` of the model's answer)."""
        return pick_person(text, self.image, self.people, self.fit.joints, guide)


def read_chat_photo(image, body, max_people: int = 4) -> PhotoReading | None:
    """The people in ``image`` and their fits, or None when no one is found (the image then reaches
    the model alone, as any picture does)."""
    array = read_rgb(image)
    try:
        people = find_people(array, max_people=max_people)
    except NoPersonError:
        return None
    return PhotoReading(people, fit_people(people, body), array)
