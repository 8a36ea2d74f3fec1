"""The photo path as a pose model for :func:`posekit.evaluation.benchmark.evaluate`: each record's image
through :func:`~posekit.photos.landmarks.find_people` and :func:`~posekit.photos.fit.fit_people`.

Which person a request means: the largest one found; with a ``guide`` (ChatPose, which reads the
request and the image), the fitted person nearest to the guide's answer (the guide picks, the fit
poses); with ``words``, first what the request says of the person's look or place
(:func:`posekit.photos.picking.pick_person`). Records whose photo shows no one found get the guide's
answer (or the rest pose) and are marked in :attr:`PhotoPoseModel.found`."""
from __future__ import annotations

from pathlib import Path

import torch

from posekit.body.model import BodyModel, load_body_model
from posekit.datasets.records import Record
from posekit.encoders.vision import read_rgb
from posekit.models.baselines import query_text
from posekit.photos.fit import FitConfig, fit_people
from posekit.photos.landmarks import NoPersonError, find_people
from posekit.photos.picking import nearest_person, pick_person

__all__ = ["PhotoPoseModel"]


class PhotoPoseModel:
    """``predict(records, root) -> (N, 24, 3)`` from the records' images (see the module docstring)."""

    def __init__(self, guide=None, body: BodyModel | None = None, config: FitConfig = FitConfig(),
                 max_people: int = 4, name: str | None = None, words: bool = False):
        self.guide, self.config, self.max_people, self.words = guide, config, max_people, words
        self.body = body or load_body_model()
        self.name = name or ("photo + " + getattr(guide, "name", "guide") if guide is not None else "photo")
        self.found_people: list[list] = []
        """Per record, the people found in its image (last :meth:`predict`)."""
        self.seconds = 0.0
        """Fit time per person (last :meth:`predict`, all fitted in one batch)."""

    def fit(self, records: list[Record], root: Path | None = None) -> "PhotoPoseModel":
        return self  # nothing to learn: the landmark model and the body are fixed

    @property
    def found(self) -> torch.Tensor:
        """``(N,)`` whether a person was found in each record's image (last :meth:`predict`)."""
        return torch.tensor([bool(people) for people in self.found_people])

    @property
    def people(self) -> torch.Tensor:
        """``(N,)`` people found in each record's image (last :meth:`predict`)."""
        return torch.tensor([len(people) for people in self.found_people])

    @torch.no_grad()
    def predict(self, records: list[Record], root: Path | None = None) -> torch.Tensor:
        if any(r.image is None for r in records):
            raise ValueError("the photo path reads images: every record needs one (image2pose, rpe)")
        guided = self.guide.predict(records, root) if self.guide is not None else None  # (N, 24, 3)
        several = guided is not None or self.words
        images, self.found_people = [], []
        for record in records:  # landmarks photo by photo, then one batched fit of everyone
            images.append(read_rgb(Path(root or ".") / record.image))
            try:
                self.found_people.append(find_people(images[-1], max_people=self.max_people if several else 1))
            except NoPersonError:
                self.found_people.append([])
        everyone = [person for people in self.found_people for person in people]
        fitted = fit_people(everyone, self.body, self.config) if everyone else None
        self.seconds = fitted.seconds / len(everyone) if fitted is not None else 0.0
        out, first = [], 0
        for k, people in enumerate(self.found_people):
            if not people:
                out.append(guided[k] if guided is not None else torch.zeros(24, 3))
                continue
            pick = 0
            if len(people) > 1 and several:
                answer = self.body(guided[k:k + 1, 0], guided[k:k + 1, 1:], joints_only=True).joints[0] \
                    if guided is not None else None
                joints = fitted.joints[first:first + len(people)]
                if self.words:
                    pick, _ = pick_person(query_text(records[k]), images[k], people, joints, answer)
                else:
                    pick = nearest_person(joints, answer)
            out.append(fitted.pose[first + pick])
            first += len(people)
        return torch.stack(out).float()
