"""Answering requests with a trained decoder: poses from cached states, image tokens aligned with
the records."""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import torch

from posekit.body.rotations import rot6d_to_rotmat
from posekit.body.skeleton import NUM_JOINTS
from posekit.datasets.records import Record
from posekit.encoders.state_cache import image_tokens
from posekit.encoders.vision import DEFAULT_VISION
from posekit.models.decoder.examples import Examples, group_batches, run_decoder
from posekit.models.decoder.network import PoseDecoder

__all__ = ["decode_requests", "aligned_image_tokens", "align_to_records"]


@torch.no_grad()
def decode_requests(decoder: PoseDecoder, states, pose_in: list[torch.Tensor | None], images: torch.Tensor | None,
                    counts: list[int], batch_size: int = 256, recall=None) -> list[torch.Tensor]:
    """Rotation matrices ``(counts[i], 24, 3, 3)`` for each request ``i``: its first ``counts[i]``
    poses, from its states (``states[i]``), its input pose ``pose_in[i]`` ``(24, 3)`` or None and
    its image tokens ``images[i]`` (None or zeros for requests without an image); ``recall``: the
    requests' :class:`~posekit.models.decoder.recall.RecallInputs` (a decoder that reads their words).
    Batched where the decoder's weights are (the inputs go there); the poses come back on the CPU."""
    request, index = [], []
    for i, n in enumerate(counts):
        request += [i] * n
        index += list(range(n))
    if not request:
        return [torch.zeros(0, NUM_JOINTS, 3, 3) for _ in counts]
    request_t = torch.tensor(request)
    zeros = torch.zeros(NUM_JOINTS, 3)
    has_image = torch.zeros(len(counts), dtype=torch.bool)
    if images is not None:
        has_image = images.flatten(1).abs().amax(1) > 0
    ex = Examples(request_t, torch.tensor(index).clamp(max=decoder.config.max_poses - 1),
                   torch.zeros(len(request), NUM_JOINTS, 3),
                   torch.stack([pose_in[i] if pose_in[i] is not None else zeros for i in request]).float(),
                   torch.tensor([pose_in[i] is not None for i in request]), has_image[request_t])
    was_training = decoder.training
    decoder.eval()
    out = torch.zeros(len(request), NUM_JOINTS, 3, 3)
    for rows in group_batches(ex, states.lengths[ex.request], batch_size, None):
        out[rows] = rot6d_to_rotmat(run_decoder(decoder, states, ex, rows, images, recall=recall).float()).cpu()
    decoder.train(was_training)
    return list(out.split(counts))


def align_to_records(records: list[Record], encode: Callable[[list[Record]], torch.Tensor]) -> torch.Tensor | None:
    """Image tokens aligned with ``records``: ``encode`` maps the records that have an image to
    their tokens ``(n, N, C)``; the result ``(len(records), N, C)`` holds zeros for the others
    (:func:`decode_requests` reads zeros as "no image"); None when no record has an image."""
    with_image = [i for i, r in enumerate(records) if r.image is not None]
    if not with_image:
        return None
    tokens = encode([records[i] for i in with_image])
    out = torch.zeros(len(records), *tokens.shape[1:], dtype=tokens.dtype)
    out[with_image] = tokens
    return out


def aligned_image_tokens(records: list[Record], root: Path | None, progress: bool = False,
                         vision: str = DEFAULT_VISION) -> torch.Tensor | None:
    """Cached image tokens ``(N, 49, C)`` of the encoder ``vision`` aligned with ``records`` (zeros
    where a record has no image), or None when none has one."""
    if root is None and any(r.image is not None for r in records):
        raise ValueError("image records need the dataset folder (root=) to find their images")
    return align_to_records(records, lambda chosen: image_tokens(chosen, root, progress=progress, vision=vision))
