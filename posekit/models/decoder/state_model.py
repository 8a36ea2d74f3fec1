"""A trained decoder with its state reader, as an evaluation model, and its file format
(``posekit train-decoder --out``: a ``.pt`` of tensors and plain values, read with ``weights_only``)."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import torch

from posekit import distributed
from posekit.body.rotations import rotmat_to_rotvec
from posekit.datasets.records import Record
from posekit.encoders.state_cache import request_states
from posekit.encoders.vision import DEFAULT_VISION
from posekit.files import NotOwnedError, atomic_path, first_bad_tensor, first_kind_mismatch, read_torch_file
from posekit.models.decoder.config import PoseDecoderConfig
from posekit.models.decoder.inference import aligned_image_tokens, decode_requests
from posekit.models.decoder.network import PoseDecoder
from posekit.models.decoder.recall import sentence_inputs

__all__ = ["StatePoseModel", "read_decoder_file", "check_decoder_out"]


class StatePoseModel:
    """A trained :class:`PoseDecoder` with its state reader, as an evaluation model
    (``predict(records, root) -> (N, 24, 3)``, the first pose of each answer)."""

    name = "decoder"

    def __init__(self, decoder: PoseDecoder, layer: int, backbone: str, llm=None, vision: str = DEFAULT_VISION):
        self.decoder, self.layer, self.backbone, self.llm, self.vision = decoder, layer, backbone, llm, vision

    def fit(self, records: list[Record], root: Path | None = None) -> "StatePoseModel":
        return self  # trained already (train_pose_decoder)

    @torch.no_grad()
    def predict(self, records: list[Record], root: Path | None = None, progress: bool = False) -> torch.Tensor:
        states = request_states(records, self.layer, self.backbone, progress=progress, model=self.llm)
        images = aligned_image_tokens(records, root, progress=progress, vision=self.vision)
        pose_in = [r.inputs()[-1] if r.input_poses else None for r in records]
        recall = sentence_inputs(records) if self.decoder.config.reads_sentence else None
        self.decoder.to(distributed.device())  # evaluation batched on the GPU where there is one
        poses = decode_requests(self.decoder, states, pose_in, images, [1] * len(records), recall=recall)
        return rotmat_to_rotvec(torch.cat(poses))

    def save(self, path: str | Path, extra: dict | None = None) -> Path:
        payload = {"config": dataclasses.asdict(self.decoder.config), "layer": self.layer, "backbone": self.backbone,
                   "vision": self.vision,
                   "state_dict": {k: (v.half() if v.is_floating_point() else v).cpu()
                                  for k, v in self.decoder.state_dict().items()},
                   **(extra or {})}
        with atomic_path(path) as tmp:
            torch.save(payload, tmp)
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, llm=None) -> "StatePoseModel":
        """A decoder file (``posekit train-decoder --out``). The decoder head of a ChatPose checkpoint
        folder: :func:`posekit.models.chatpose.load_decoder`."""
        path = Path(path)
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not a decoder file: read a ChatPose checkpoint's decoder head with "
                             "posekit.models.chatpose.load_decoder(folder) (it reads decoder files too)")
        if not path.is_file():
            raise FileNotFoundError(f"decoder file {path} does not exist (write one with `posekit train-decoder --out FILE`)")
        try:
            payload = read_decoder_file(path)
            config = PoseDecoderConfig(**payload["config"])
        except Exception as err:  # truncated, another format, or a file of another program
            raise ValueError(f"{path} is not a posekit decoder file ({type(err).__name__}); pass the .pt file that "
                             "`posekit train-decoder --out` wrote") from None
        bad = first_bad_tensor(payload["state_dict"])
        if bad:
            raise ValueError(f"decoder file {path} holds bad weights ({bad}); train it again with "
                             "`posekit train-decoder`")
        decoder = PoseDecoder(config)
        wrong = first_kind_mismatch(payload["state_dict"], decoder.state_dict())
        if wrong:
            raise ValueError(f"decoder file {path}: {wrong}, so its values would load changed; train it again with "
                             "`posekit train-decoder`")
        decoder.load_state_dict({k: v.float() if v.is_floating_point() else v for k, v in payload["state_dict"].items()})
        decoder.eval()
        return cls(decoder, payload["layer"], payload["backbone"], llm, payload.get("vision", DEFAULT_VISION))


def check_decoder_out(path: str | Path, force: bool = False) -> None:
    """Refuse (:class:`posekit.files.NotOwnedError`, before any work) to write a decoder file over
    ``path`` when it is a folder, or a file that is not a posekit decoder file, unless ``force``."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"--out {path} is a folder; name the decoder file to write, e.g. {path / 'decoder.pt'}")
    if force or not path.exists():
        return
    try:
        payload = read_decoder_file(path)
        ours = isinstance(payload, dict) and {"config", "state_dict", "layer"} <= set(payload)
    except ValueError:
        ours = False
    if not ours:
        raise NotOwnedError(f"{path} exists and is not a posekit decoder file; pass a new path, or --force "
                            "(force=True) to replace it")


def read_decoder_file(path: str | Path) -> dict:
    """The payload of a decoder file (``posekit train-decoder --out``): tensors and plain values only."""
    return read_torch_file(path, "decoder file")
