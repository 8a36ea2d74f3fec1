"""The decoder's example table (one row per target pose) and its batching: length-sorted batches
that never mix requests with different inputs (text, pose, image)."""
from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from posekit.body.skeleton import NUM_JOINTS
from posekit.datasets.records import Record
from posekit.models.decoder.network import PoseDecoder

__all__ = ["Examples", "target_keypoints", "grounding_target", "image_side", "make_examples",
           "length_batches", "run_decoder", "group_batches", "held_out_halves"]


@dataclasses.dataclass
class Examples:
    """One row per target pose: which request it belongs to and which pose of the answer it is."""

    request: torch.Tensor  # (P,) index into the states
    index: torch.Tensor  # (P,) pose index within the answer
    target: torch.Tensor  # (P, 24, 3)
    pose_in: torch.Tensor  # (P, 24, 3)
    has_input: torch.Tensor  # (P,) bool
    has_image: torch.Tensor  # (P,) bool
    keypoints: torch.Tensor | None = None  # (P, 24, 2) pixels, NaN where unknown

    @property
    def group(self) -> torch.Tensor:
        """``(P,)`` which inputs a request has: 0 text, 1 + pose, 2 + image, 3 both (batched apart)."""
        return self.has_input.long() + 2 * self.has_image.long()


def target_keypoints(record: Record) -> torch.Tensor | None:
    """The 2D joints ``(24, 2)`` (pixels) of the person an image record asks for: image2pose's
    only person, rpe's target; None for a record without them."""
    meta = record.meta or {}
    if "joints_2d" in meta:
        points = meta["joints_2d"]
    elif "people" in meta and "target_index" in meta:
        points = meta["people"][meta["target_index"]].get("joints_2d")
    else:
        return None
    return None if points is None else torch.tensor(points, dtype=torch.float32).reshape(NUM_JOINTS, 2)


def grounding_target(keypoints: torch.Tensor, image_size: int, tokens: int) -> torch.Tensor:
    """Where a person is, as a distribution ``(B, N)`` over an image's ``N`` feature tokens (a
    square grid, row-major): the share of the person's 2D joints ``(B, 24, 2)`` (pixels of an
    ``image_size`` square image) in each token's cell."""
    grid = math.isqrt(tokens)
    if grid * grid != tokens:
        raise ValueError(f"grounding needs a square grid of image tokens, got {tokens}")
    cells = (keypoints / image_size).clamp(0, 1 - 1e-6).mul(grid).floor().long()  # (B, 24, 2) column, row
    index = cells[..., 1] * grid + cells[..., 0]  # (B, 24)
    out = torch.zeros(len(keypoints), tokens)
    return out.scatter_add_(1, index, torch.full(index.shape, 1.0 / index.shape[1]))


def image_side(records: list[Record], root: Path, default: int = 224) -> int:
    """The width in pixels of the first image among ``records`` (the datasets' images are
    square, all of one size), the unit of their 2D joints; ``default`` when none has an image."""
    from PIL import Image

    first = next((r for r in records if r.image is not None), None)
    if first is None:
        return default
    with Image.open(Path(root) / first.image) as image:  # reads the header only
        return image.width


def make_examples(records: list[Record], max_poses: int, repeats: dict[str, int] | None = None) -> Examples:
    """One row per target pose of ``records``; ``repeats``: ``{task: n}``, the rows of that task's
    records n times (:attr:`DecoderTrainConfig.task_repeats`)."""
    request, index, target, pose_in, has_input, has_image, keypoints = [], [], [], [], [], [], []
    unknown = torch.full((NUM_JOINTS, 2), float("nan"))
    for i, r in enumerate(records):
        targets = r.targets()[:max_poses] if r.target_poses else torch.zeros(0, NUM_JOINTS, 3)
        inputs = r.inputs() if r.input_poses else None
        points = target_keypoints(r) if r.image is not None and len(targets) == 1 else None
        copies = (repeats or {}).get(r.task, 1)
        for k, t in [(k, t) for k, t in enumerate(targets) for _ in range(copies)]:
            request.append(i)
            index.append(k)
            target.append(t)
            pose_in.append(inputs[0] if inputs is not None else torch.zeros(NUM_JOINTS, 3))
            has_input.append(inputs is not None)
            has_image.append(r.image is not None)
            keypoints.append(points if points is not None else unknown)
    return Examples(torch.tensor(request), torch.tensor(index), torch.stack(target).float(),
                     torch.stack(pose_in).float(), torch.tensor(has_input), torch.tensor(has_image),
                     torch.stack(keypoints))


def length_batches(lengths: torch.Tensor, batch_size: int, generator: torch.Generator | None) -> list[torch.Tensor]:
    """Index batches of similar lengths (little padding): shuffled, sorted within chunks of 32 batches."""
    order = torch.randperm(len(lengths), generator=generator) if generator is not None else torch.arange(len(lengths))
    out = []
    chunk = batch_size * 32
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[torch.argsort(lengths[part], stable=True)]
        out += list(part.split(batch_size))
    if generator is not None:
        out = [out[i] for i in torch.randperm(len(out), generator=generator)]
    return out


def run_decoder(decoder: PoseDecoder, states, ex: Examples, rows: torch.Tensor, images: torch.Tensor | None,
         features: bool = False, recall=None, candidates: bool = False):
    """6D poses ``(b, 24, 6)`` of the examples ``rows`` (one input group per batch); with
    ``features``, the joint queries' outputs ``(b, 24, width)`` and the grounding map
    ``(b, N)`` (or None) instead; with ``candidates``,
    :meth:`~posekit.models.decoder.network.PoseDecoder.answer_candidates`' candidates and logits.
    ``recall``: the requests' :class:`~posekit.models.decoder.recall.RecallInputs`, for a decoder
    that reads them. The inputs (cached on the CPU) go to the device of the decoder's weights."""
    if len(set(ex.group[rows].tolist())) != 1:
        raise ValueError("a batch mixes requests with different inputs (pose, image); batch them apart")
    where = decoder.state_mean.device
    text, mask = (x.to(where) for x in states.padded(ex.request[rows]))
    pose_in = ex.pose_in[rows].to(where) if bool(ex.has_input[rows[0]]) else None
    image = None
    if bool(ex.has_image[rows[0]]):
        if images is None:
            raise ValueError("image requests need their image tokens (posekit.encoders.state_cache.image_tokens)")
        image = images[ex.request[rows]].to(where)
    index = ex.index[rows].to(where)
    sentences = exclude = None
    if decoder.config.reads_sentence:
        if recall is None:
            raise ValueError("this decoder reads the requests' words: pass their RecallInputs "
                             "(posekit.models.decoder.recall.sentence_inputs)")
        requests = ex.request[rows]
        sentences = recall.sentences[requests].to(where)
        exclude = [recall.exclude[int(i)] for i in requests] if recall.exclude is not None else None
    if candidates:
        return decoder.answer_candidates(text, mask, pose_in, index, image, sentences, exclude)
    if features:
        return decoder.joint_features(text, mask, pose_in, index, image, return_grounding=True, sentences=sentences)
    return decoder(text, mask, pose_in, index, image, sentences=sentences, exclude=exclude)


def group_batches(ex: Examples, lengths: torch.Tensor, batch_size: int, generator) -> list[torch.Tensor]:
    """Length-sorted batches that never mix requests with different inputs (text, pose, image)."""
    out = []
    for flag in range(4):
        rows = torch.nonzero(ex.group == flag).flatten()
        if len(rows):
            out += [rows[b] for b in length_batches(lengths[rows], batch_size, generator)]
    if generator is not None:
        out = [out[i] for i in torch.randperm(len(out), generator=generator)]
    return out


def held_out_halves(records: list[Record], seed: int = 0) -> tuple[list[Record], list[Record]]:
    """Held-out records in two halves drawn at random (each in the records' order): one to fit a
    confidence gate on, one to pick its epoch (:attr:`DecoderTrainConfig.trainable` ``"confidence"``)."""
    order = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed)).tolist()
    half = len(order) // 2
    return [records[i] for i in sorted(order[:half])], [records[i] for i in sorted(order[half:])]
