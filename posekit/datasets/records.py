"""Conversation records: the unit of every posekit task dataset.

A record is a multi-turn conversation (system / user / assistant turns) plus what its
placeholders stand for:

- ``<POSE>`` in an assistant turn: a pose the model must produce (``target_poses``, in order);
- ``<pose_in>`` in a user turn: a pose given to the model (``input_poses``, in order);
- ``<image>`` in a user turn: an image (``image``, a path relative to the dataset folder).

Poses are axis-angle ``(24, 3)`` lists (global orientation first), stored as JSON lines.
"""
from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posekit.files import atomic_path

if TYPE_CHECKING:
    import torch

__all__ = ["POSE_TOKEN", "POSE_IN_TOKEN", "IMAGE_TOKEN", "SYSTEM_PROMPT", "CHAT_SYSTEM_PROMPT", "system_turn",
           "TASKS", "POSE_TASKS", "IMAGE_TASKS", "Record", "write_jsonl", "read_jsonl",
           "TEXT2POSE_REQUESTS", "INSTRUCTION_REQUESTS", "POSE_ANSWERS", "IMAGE_REQUESTS", "POSE2TEXT_REQUESTS", "SPG_REQUESTS",
           "RPE_REQUESTS", "EDIT_REQUESTS"]

POSE_TOKEN = "<POSE>"
POSE_IN_TOKEN = "<pose_in>"
IMAGE_TOKEN = "<image>"
SYSTEM_PROMPT = ("You are a helpful assistant who understands 3D human poses. When asked for a pose, "
                 "answer with the special pose token.")
"""The system turn every stored record starts with."""
CHAT_SYSTEM_PROMPT = "You are ChatPose. You understand 3D human poses."
"""The short system turn ChatPose trains and answers with (it replaces the records' system turns:
every token costs training time on a CPU)."""
TASKS = ("text2pose", "pose2text", "spg", "image2pose", "rpe", "edit", "chat")
"""Every task a dataset holds, in build order."""
POSE_TASKS = ("text2pose", "spg", "image2pose", "rpe", "edit")
"""The tasks whose answer is a pose (evaluated with pose metrics, in report order)."""
IMAGE_TASKS = ("image2pose", "rpe")
"""The tasks whose request holds an image."""

TEXT2POSE_REQUESTS = (
    "{text} Give the SMPL pose.",
    "Here is a description of a pose: {text} Can you generate the corresponding SMPL pose?",
    "Show me this pose: {text}",
    "Generate the 3D body pose that matches this description. {text}",
    "{text} What is the SMPL pose?",
)
INSTRUCTION_REQUESTS = (
    "{text}",
    "{text}",
    "{text}",
    "{text} Show me the pose.",
    "Can you do this pose? {text}",
)
"""Wrappers of instruction-style text2pose requests (:func:`posekit.datasets.recaptioned`):
mostly the bare instruction, as a person types it into the chat."""
SPG_REQUESTS = (
    "{text} Give the SMPL pose.",
    "How would this person stand or move? {text} Please give the SMPL pose.",
    "Imagine the following: {text} What would the body pose look like?",
    "{text} Can you generate a plausible pose for this?",
    "Think about the situation. {text} Output the SMPL pose.",
)
POSE_ANSWERS = (
    "Sure, the SMPL pose is {pose}.",
    "Here is the pose: {pose}.",
    "Sure, here it is: {pose}.",
    "{pose}",
)
IMAGE_REQUESTS = (
    "{image}\nCan you predict the SMPL pose of the person in this image?",
    "{image}\nWhat is the 3D pose of the person?",
    "{image}\nEstimate the body pose of the person shown.",
)
RPE_REQUESTS = (
    "{image}\nThere are several people in this image. What is the SMPL pose of {query}?",
    "{image}\nGive the pose of {query}.",
    "{image}\nCan you estimate the 3D pose of {query}?",
)
POSE2TEXT_REQUESTS = (
    "{pose_in}\nDescribe this pose.",
    "{pose_in}\nWhat is this person doing with their body? Describe the pose in detail.",
    "Here is a 3D pose: {pose_in}. Can you describe it?",
)
EDIT_REQUESTS = (
    "{pose_in}\n{text}",
    "Start from this pose: {pose_in}. {text} Give the new SMPL pose.",
    "{pose_in}\nModify the pose as follows: {text}",
)


@dataclasses.dataclass
class Record:
    """One conversation with its targets and metadata."""

    id: str
    task: str
    split: str
    messages: list[dict[str, str]]
    """``[{"role": "system" | "user" | "assistant", "content": ...}, ...]``."""
    target_poses: list[list[list[float]]] = dataclasses.field(default_factory=list)
    """One ``(24, 3)`` axis-angle pose per ``<POSE>`` in the assistant turns."""
    input_poses: list[list[list[float]]] = dataclasses.field(default_factory=list)
    """One ``(24, 3)`` pose per ``<pose_in>`` in the user turns."""
    image: str | None = None
    meta: dict = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.task not in TASKS:
            raise ValueError(f"task must be one of {TASKS}, got {self.task!r}")
        out_tokens = sum(m["content"].count(POSE_TOKEN) for m in self.messages if m["role"] == "assistant")
        in_tokens = sum(m["content"].count(POSE_IN_TOKEN) for m in self.messages if m["role"] == "user")
        images = sum(m["content"].count(IMAGE_TOKEN) for m in self.messages if m["role"] == "user")
        if out_tokens != len(self.target_poses):
            raise ValueError(f"{self.id}: {out_tokens} {POSE_TOKEN} tokens but {len(self.target_poses)} target poses")
        if in_tokens != len(self.input_poses):
            raise ValueError(f"{self.id}: {in_tokens} {POSE_IN_TOKEN} tokens but {len(self.input_poses)} input poses")
        if (images > 0) != (self.image is not None):
            raise ValueError(f"{self.id}: {images} {IMAGE_TOKEN} tokens but image={self.image!r}")
        for key in ("target_poses", "input_poses"):
            poses = getattr(self, key)
            if not poses:
                continue
            try:
                array = np.asarray(poses, dtype=np.float64)
            except (TypeError, ValueError):
                raise ValueError(f"{self.id}: {key} must be lists of 24 x 3 numbers") from None
            if array.shape[1:] != (24, 3):
                raise ValueError(f"{self.id}: {key} must be (P, 24, 3) axis-angle poses, got shape {array.shape}")
            if not np.isfinite(array).all():
                pose, joint = (int(i) for i in np.argwhere(~np.isfinite(array))[0][:2])
                raise ValueError(f"{self.id}: {key}[{pose}] has NaN/inf values (joint {joint})")

    def targets(self) -> torch.Tensor:
        """``(P, 24, 3)`` target poses."""
        import torch  # here, not at the top: the task names and the record format are read without torch

        return torch.tensor(self.target_poses, dtype=torch.float32).reshape(-1, 24, 3)

    def inputs(self) -> torch.Tensor:
        """``(P, 24, 3)`` input poses."""
        import torch

        return torch.tensor(self.input_poses, dtype=torch.float32).reshape(-1, 24, 3)

    def summary(self, max_meta_chars: int = 300) -> dict:
        """The record with poses replaced by their count and bulky metadata shortened (for display)."""
        meta = {k: v for k, v in self.meta.items() if k not in ("posecodes", "people", "joints_2d", "betas")}
        text = json.dumps(meta)
        return {"id": self.id, "task": self.task, "split": self.split, "messages": self.messages,
                "target_poses": f"{len(self.target_poses)} pose(s) of 24 x 3",
                "input_poses": f"{len(self.input_poses)} pose(s) of 24 x 3", "image": self.image,
                "meta": meta if len(text) <= max_meta_chars else text[:max_meta_chars] + " ..."}

    def to_json(self) -> str:
        # the fields as they are (plain JSON values): dataclasses.asdict's deep copy took a fifth of a dataset build
        return json.dumps({f.name: getattr(self, f.name) for f in dataclasses.fields(self)}, separators=(",", ":"))

    @staticmethod
    def from_json(line: str) -> "Record":
        return Record(**json.loads(line))


def system_turn() -> dict[str, str]:
    """The system message every stored record starts with (:data:`SYSTEM_PROMPT`)."""
    return {"role": "system", "content": SYSTEM_PROMPT}


def pose_list(pose: torch.Tensor) -> list[list[float]]:
    """``(24, 3)`` tensor -> nested lists rounded to 1e-5 rad (compact, deterministic JSON)."""
    return [[round(v, 5) for v in row] for row in pose.reshape(24, 3).tolist()]  # tolist: no per-element tensors


def write_jsonl(records: list[Record], path: str | os.PathLike) -> Path:
    """One record per line, written atomically (:func:`posekit.files.atomic_path`)."""

    path = Path(path)
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as fh:
        for record in records:
            fh.write(record.to_json() + "\n")
    return path


def read_jsonl(path: str | os.PathLike) -> list[Record]:
    """The records of a JSONL file; a line that is not a valid record raises ``ValueError``
    naming the file and the line."""
    path = Path(path)
    records = []
    with open(path, encoding="utf-8") as fh:
        for number, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                records.append(Record.from_json(line))
            except (ValueError, TypeError, KeyError) as err:
                raise ValueError(f"{path}, line {number}: not a valid record: {err}") from None
    return records
